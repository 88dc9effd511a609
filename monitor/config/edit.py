"""Adding feeds to feeds.yaml, and changing their addresses, as text, so that its comments, order and
formatting stay as the user wrote them.

Loading the YAML and dumping it again would lose every comment, and feeds.yaml is mostly comments. So the
new entries are written as YAML text and inserted after the last line of the ``feeds:`` list (before any
comments or sections that follow it), indented like the entries already there. The result is validated
with ``load_config`` before the file is replaced (atomically), so a file that ``monitor check`` accepted
is never left broken.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from monitor.config.boundedread import read_bounded
from monitor.config.errors import ConfigError
from monitor.config.load import load_config
from monitor.config.reader import MAX_FILE_BYTES, decode_text
from monitor.config.schema import Config
from monitor.errors import MonitorError

_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\s*:(?P<rest>.*)$")
_ITEM = re.compile(r"^(?P<indent>\s*)-\s")


@dataclass(frozen=True)
class AddResult:
    """What ``add_feeds`` did: the entries written, and those skipped with the reason."""

    added: tuple[Mapping, ...]
    skipped: tuple[tuple[Mapping, str], ...]


@dataclass(frozen=True)
class Move:
    """A feed whose address is to change in feeds.yaml: its name, the address written there, the new one."""

    name: str
    old: str
    new: str


@dataclass(frozen=True)
class MoveResult:
    """What ``move_feeds`` did: the moves written, and those left with the reason."""

    moved: tuple[Move, ...]
    skipped: tuple[tuple[Move, str], ...]


_PLAIN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"{}\[\],#]*")
"""A URL that YAML reads back as written without quotes, in a block or a flow mapping: it starts with its
scheme and holds no space, quote, comment or flow character (others are written as a JSON string, which
YAML reads as a double-quoted one)."""


def move_feeds(path: Path, moves: Sequence[Move], *, dry_run: bool = False) -> MoveResult:
    """Write each feed's new address over its old one in the config file at ``path``, nothing else changed.

    A move is made only where the file says it plainly: the feed's address as configured is ``old``, and
    it is written once, as the value of a ``url:`` key. The result must load to the same configuration
    with those addresses alone changed (checked before the file is replaced, atomically).

    Raises:
        ConfigError: the file as it is, or as it would be, is not valid (nothing is written then).
        MonitorError: the file would not change in those addresses alone (nothing is written then).
    """
    current = load_config(path)
    text = decode_text(read_bounded(path, MAX_FILE_BYTES))
    configured = {feed.name: feed for feed in current.feeds}
    taken = {feed.url: feed.name for feed in current.feeds}  # addresses in use once the moves are made
    made, skipped = [], []
    for move in moves:
        feed = configured.get(move.name)
        if feed is None or feed.url != move.old:
            skipped.append((move, f"its address in {path.name} is no longer {move.old}"))
            continue
        twin = next(
            (name for url, name in taken.items() if name != move.name and same_url(url, move.new)), None
        )
        if twin is not None:
            # Two feeds at one address would poll it twice: the file would be refused as a whole.
            skipped.append((move, f"{move.new} is already {twin}'s address; remove one of the two feeds"))
            continue
        written = re.compile(
            r"(?P<key>(?<![\w-])url[ \t]*:[ \t]*)(?P<quote>[\"']?)" + re.escape(move.old) + r"(?P=quote)"
            r"(?=[ \t]*(?:[,}]|#|$))",
            re.MULTILINE,
        )
        found = list(written.finditer(text))
        if len(found) != 1:
            how = "not written as a url: value" if not found else f"written {len(found)} times"
            skipped.append((move, f"{move.old} is {how} in {path.name}; change it by hand"))
            continue
        match = found[0]
        literal = _literal(move.new)
        value = literal if _PLAIN_URL.fullmatch(literal) else json.dumps(literal)
        text = text[: match.start()] + match["key"] + value + text[match.end() :]
        del taken[move.old]
        taken[move.new] = move.name
        made.append(move)
    if made:
        _check_only_moved(path, _validate(path, text), current, made)
        if not dry_run:
            _replace(path, text)
    return MoveResult(tuple(made), tuple(skipped))


def _check_only_moved(path: Path, after: Config, before: Config, moves: Sequence[Move]) -> None:
    """Refuse ``after`` unless it is ``before`` with the moved feeds' addresses alone changed."""
    new_urls = {move.name: move.new for move in moves}
    expected = before.model_copy(
        update={
            "feeds": tuple(
                feed.model_copy(update={"url": new_urls[feed.name]}) if feed.name in new_urls else feed
                for feed in before.feeds
            )
        }
    )
    if after.model_dump() != expected.model_dump():
        raise MonitorError(
            f"writing the new addresses into {path} would not change those addresses alone; nothing was "
            "written",
            hint="change the feeds' url: values by hand",
        )


def same_url(a: str, b: str) -> bool:
    """URLs equal up to the case of scheme and host and a trailing slash."""

    def key(url: str) -> tuple[str, str, str]:
        parts = urlsplit(url.strip())
        return (
            parts.scheme.lower(),
            parts.netloc.lower(),
            parts.path.rstrip("/") + ("?" + parts.query if parts.query else ""),
        )

    return key(a) == key(b)


def add_feeds(path: Path, new: Sequence[Mapping], *, dry_run: bool = False) -> AddResult:
    """Append feed entries to the ``feeds:`` list of the config file at ``path``.

    Args:
        path: feeds.yaml; created with a ``feeds:`` list if it does not exist.
        new: entries as they would be written in YAML (name, url, and optional keys such as kind, tags).
        dry_run: check everything, write nothing.

    Returns:
        The entries added and those skipped: a URL already configured (or repeated in ``new``) is skipped;
        a name already taken is made unique with a number.

    Raises:
        ConfigError: the file as it is, or as it would be, is not valid (nothing is written then).
    """
    current = load_config(path) if path.exists() else Config()
    text = decode_text(read_bounded(path, MAX_FILE_BYTES)) if path.exists() else ""
    urls = [(feed.url, feed.name, feed.kind) for feed in current.feeds]
    names = {feed.name.casefold() for feed in current.feeds}
    added, skipped = [], []
    for entry in new:
        entry = dict(entry)
        holder = next(((name, kind) for url, name, kind in urls if same_url(entry["url"], url)), None)
        if holder is not None:
            # Named: the address may be there as another kind of source (a front page, where a sitemap
            # was offered), which a URL can be only once.
            skipped.append((entry, f"already configured as {holder[0]!r} (kind {holder[1]})"))
            continue
        base, n = entry["name"], 2
        while entry["name"].casefold() in names:
            entry["name"], n = f"{base} ({n})", n + 1
        names.add(entry["name"].casefold())
        urls.append((entry["url"], entry["name"], entry.get("kind", "rss")))
        added.append(entry)
    if added:
        updated = insert_entries(text, added)
        _validate(path, updated)
        if not dry_run:
            _replace(path, updated)
    return AddResult(tuple(added), tuple(skipped))


def insert_entries(text: str, entries: Sequence[Mapping]) -> str:
    """``text`` with ``entries`` appended to its top-level ``feeds:`` list, everything else untouched."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    found = next(
        ((i, m) for i, line in enumerate(lines) if (m := _TOP_KEY.match(line)) and m["key"] == "feeds"), None
    )
    if found is None:
        return (
            "".join(lines) + ("\n" if lines and lines[-1].strip() else "") + "feeds:\n" + _render(entries, 2)
        )
    start, top = found
    rest = top["rest"].split("#", 1)[0].strip()
    if rest in ("[]", "~", "null"):
        lines[start] = "feeds:\n"
    elif rest:
        raise MonitorError(
            "the feeds: list is written in one line (flow style), so entries cannot be added to it",
            hint="write it as a block list, one '- name: ...' entry per line",
        )
    # The list ends at its last indented line; comments and blank lines after it belong to what follows.
    end = start
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            if line.strip() and not line[0].isspace():
                break  # a comment at column 0 introduces the next section
            continue
        if not line[0].isspace() and not line.startswith("-"):
            break
        end = i
    indent = next((len(m["indent"]) for line in lines[start + 1 : end + 1] if (m := _ITEM.match(line))), 2)
    return "".join(lines[: end + 1]) + _render(entries, indent) + "".join(lines[end + 1 :])


def _literal(value):
    """``value`` as the config reader will give it back: a ``$`` written as ``$$``, so that text from an OPML
    file, a web page or a server (a URL holding ``${SMTP_PASSWORD}``) is never read as an environment
    reference and expanded into a request to a stranger's site."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list | tuple):
        return [_literal(item) for item in value]
    return value


def _render(entries: Sequence[Mapping], indent: int) -> str:
    """The entries as block YAML list items, each key on its own line, lists (tags) in flow style."""
    out = []
    for entry in entries:
        for n, (key, value) in enumerate(entry.items()):
            value = _literal(value)
            if isinstance(value, list | tuple):
                line = f"{key}: " + yaml.safe_dump(
                    list(value), allow_unicode=True, default_flow_style=True, width=10_000
                )
            else:
                line = yaml.safe_dump(
                    {key: value}, allow_unicode=True, default_flow_style=False, width=10_000
                )
            out.append(" " * indent + ("- " if n == 0 else "  ") + line)
    return "".join(out)


def _validate(path: Path, text: str) -> Config:
    """Load ``text`` as the config would be loaded; a problem is reported against ``path``."""
    # Beside the file: the paths it names (a watchlist file) are relative to its directory.
    fd, name = _temp_file(path.parent if path.parent.exists() else None, path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return load_config(name)
    except ConfigError as error:
        problems = [dataclasses.replace(p, file=str(path)) for p in error.problems]
        raise ConfigError(problems) from None
    finally:
        os.unlink(name)


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, keeping the file's permissions. A link is followed: the file
    it names is replaced, not the link (a feeds.yaml linked from a deployment's own directory)."""
    path = path.resolve()
    fd, name = _temp_file(path.parent, path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(name, path.stat().st_mode & 0o777)
        os.replace(name, path)
    except OSError as exc:
        if os.path.exists(name):
            os.unlink(name)
        raise _unwritable(path, exc) from exc
    except BaseException:
        if os.path.exists(name):
            os.unlink(name)
        raise


def _temp_file(directory: Path | None, path: Path) -> tuple[int, str]:
    """A new temporary file in ``directory`` (None: the system's), for ``path``'s new text."""
    try:
        return tempfile.mkstemp(prefix=".feeds-", suffix=".yaml", dir=directory)
    except OSError as exc:
        raise _unwritable(path, exc) from exc


def _unwritable(path: Path, exc: OSError) -> MonitorError:
    return MonitorError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint="run the command as the user that owns the file and its directory, or edit it by hand",
    )
