"""What is wrong with a configuration: one problem at its place in the file, all of them as one error, and
the one complaint every validator raises about a value (with a hint that the report shows on its own).

A leaf module: the section models (here, in the watchlist and in the notifiers) and ``monitor.config.durations``
import it without importing the rest of the config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.errors import MonitorError

REDACTED = "***"  # shown in place of a secret, in problem messages and in dumps


class InvalidValue(MonitorError, ValueError):
    """A validator's complaint about one value, with a hint that the problem report shows separately. A
    ValueError too, so that pydantic reports it as a validation problem at the value's place."""

    hint = "the README's table of settings says what each key takes"

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(f"{problem}: {hint}")  # the text pydantic shows; the hint is also reported apart
        self.problem, self.hint = problem, hint


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the config, at its place in the file."""

    file: str
    line: int | None
    column: int | None
    key: str  # dotted, with list indices: "feeds[3].interval"; "" for the file as a whole
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        place = ":".join([self.file] + [str(n) for n in (self.line, self.column) if n is not None])
        key = f" {self.key}:" if self.key else ""
        return f"{place}:{key} {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


class ConfigError(MonitorError):
    """feeds.yaml could not be read or is invalid; ``problems`` lists everything wrong, in file order."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.column or 0)))
        super().__init__("\n".join(str(problem) for problem in self.problems))
