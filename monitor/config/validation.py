"""pydantic's validation errors -> ConfigProblems, each at the line of its value and with a hint.

Whatever validates a section (``Config`` for feeds.yaml, ``WatchlistConfig`` for a watchlist file) hands its
ValidationError here with the reader that built the data, so that every problem names its line.
"""

from __future__ import annotations

import difflib
from datetime import date
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from monitor.config.errors import REDACTED, ConfigProblem, InvalidValue
from monitor.config.reader import KeyPath, YamlReader


def validation_problems(
    reader: YamlReader,
    error: ValidationError,
    model: type[BaseModel],
    at: KeyPath = (),
    *,
    skip_reported: bool = False,
) -> list[ConfigProblem]:
    """A ConfigProblem for each of ``error``'s entries; ``model`` raised it, validating the data the reader
    read at ``at``. ``skip_reported`` leaves out what repeats a problem the reader already has."""
    entries = [{**entry, "loc": at + tuple(entry["loc"])} for entry in error.errors(include_url=False)]
    return [
        _problem_from(reader, entry, model, len(at))
        for entry in entries
        if not skip_reported or _is_new(entry, reader)
    ]


def _is_new(error: Any, reader: YamlReader) -> bool:
    """False for a pydantic error that repeats a problem already reported."""
    loc = error["loc"]
    return error["type"] != "duplicate_feed" and not any(loc[: len(p)] == p for p in reader.unresolved)


_HINTS = {
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "int_parsing": "use a whole number",
    "int_type": "use a whole number",
    "float_parsing": "use a plain number, e.g. 0.55 or 45: no unit, no %",
    "float_type": "use a plain number, e.g. 0.55 or 45: no unit, no %",
    "byte_size": "use a number with a unit, e.g. 10MB or 512KiB",
    "byte_size_unit": "use a unit such as KB, MB, KiB or MiB",
    "model_type": "write one 'key: value' per line, indented under it",
    "dict_type": "write one 'key: value' per line, indented under it",
    "tuple_type": "expected a list here: one '- item' per line",
    "kind_option": "set the feed's kind, or remove the key",
    "retention_ledger": "raise retention.deliveries, or set it to off",
    "retention_articles": "raise retention.articles, or shorten the digest's lookback or the gap between its runs",
}
_PLACES = {"retention_ledger": ("retention", "deliveries"), "retention_articles": ("retention", "articles")}
"""Where a problem the whole file raised is shown (the key to change), rather than at the file's start."""


def _problem_from(reader: YamlReader, error: Any, model: type[BaseModel], depth: int) -> ConfigProblem:
    """A ConfigProblem for one pydantic error entry; ``model`` validated what is below ``loc[:depth]``."""
    loc, kind, cause = tuple(error["loc"]), error["type"], error.get("ctx", {}).get("error")
    loc = _PLACES.get(kind, loc)
    message, hint = error["msg"], _HINTS.get(kind)
    if isinstance(cause, InvalidValue):
        message, hint = cause.problem, cause.hint
    elif error["input"] is None and kind.endswith("_type"):
        message, hint = "has no value", "write a value after the ':', or remove the key"
    elif kind in ("model_type", "dict_type"):
        # pydantic names its class here ("a valid dictionary or instance of FeedConfig"): say what was found.
        message = f"expected 'key: value' lines here, not {_described(error['input'])}"
        hint = _mapping_hint(loc, error["input"]) or hint
    elif kind == "string_type" and isinstance(error["input"], (bool, date)):
        hint = "put it in quotes: YAML reads yes, no, on, off and dates as other types"
    elif kind == "missing":
        message = f"missing required key '{loc[-1]}'"
        hint = "every feed needs a name and a url" if loc[:1] == ("feeds",) else None
    elif kind == "extra_forbidden":
        parent = _model_at(model, loc[depth:-1])
        valid = list(parent.model_fields)
        key = str(loc[-1])
        # "URL" from a spreadsheet's header is 'url'; repr shows a key's invisible characters (name\u200b).
        close = [name for name in valid if name == key.strip().lower()]
        close = close or difflib.get_close_matches(key, valid, n=1)
        message = f"unknown key {key!r}"
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"valid keys: {', '.join(valid)}"
        if not close and (section := _section_holding(parent, key)):
            # "settings:" then "interval: 5m" not indented under it: the key is a section's, one level up.
            hint = f"'{key}' is a key of {section}; {hint}"
    if loc in reader.from_env and isinstance(error["input"], str) and error["input"].strip():
        message = message.replace(error["input"].strip(), REDACTED)  # it may be a secret
    return reader.problem(loc, message, hint)


def _described(value: Any) -> str:
    """What a value that should have been a mapping is, for a message."""
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


def _mapping_hint(loc: KeyPath, value: Any) -> str | None:
    """The way out for a text written where a section or a feed was expected, if there is a likely one."""
    if not isinstance(value, str):
        return None
    if loc == ("watchlist",):
        return f"to read the topics from a file, write 'watchlist: {{file: {value}}}'"
    if len(loc) == 2 and loc[0] == "feeds":
        return f"a feed is a name and a url: '- {{name: Example, url: {value}}}'"
    return None


def _section_holding(parent: Any, key: str) -> str | None:
    """Which section of ``parent`` (a model) has the key ``key`` ("'settings:': indent it under that line",
    "each item of 'feeds:'"), if one has."""
    for name, field in getattr(parent, "model_fields", {}).items():
        section = _model_at(parent, (name,))
        if isinstance(section, type) and issubclass(section, BaseModel) and key in section.model_fields:
            if get_origin(field.annotation) is tuple:
                return f"each item of '{name}:'"
            return f"'{name}:': indent it under that line"
    return None


def _model_at(root: type[BaseModel], loc: KeyPath) -> Any:
    """The model class that validates the mapping at ``loc``, for listing its keys."""
    model: Any = root
    for part in loc:
        if isinstance(part, str):
            # A section whose keys are not fields (a digest's channels) names the model of each key itself.
            key_model = getattr(model, "key_model", None)
            model = key_model(part) if key_model else model.model_fields[part].annotation
        if get_origin(model) is tuple:  # tuple[FeedConfig, ...]: the next part is an index into it
            model = get_args(model)[0]
        if get_origin(model) in (Union, UnionType):  # EmailChannel | None: the model is the non-None part
            model = next(arg for arg in get_args(model) if arg is not type(None))
    return model
