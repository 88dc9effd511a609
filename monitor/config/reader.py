"""The YAML node reader: feeds.yaml (or a watchlist file) -> plain data, remembering where each value is.

The YAML is composed into nodes rather than loaded, so each value keeps its line and column, and bounded,
so that a small hostile file cannot take the memory or the stack. ``${VAR}`` references are expanded and
remembered, so that a dump can hide them. Any section of the configuration is read the same way:

    reader = YamlReader(str(path), os.environ)
    data = reader.read(compose(path), ("watchlist",))   # paths of problems start with "watchlist"
    problems = reader.problems + validation_problems(reader, error, WatchlistConfig, ("watchlist",))
"""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from monitor.config.boundedread import FileTooLarge, describe_size, read_bounded
from monitor.config.errors import ConfigError, ConfigProblem
from monitor.config.syntaxhints import syntax_hint


class _Mark(Protocol):
    """A place in the YAML text: a yaml.Mark, or libyaml's own mark class on the C loader's events."""

    @property
    def line(self) -> int: ...

    @property
    def column(self) -> int: ...


MAX_FILE_BYTES = 5 * 1024 * 1024  # feeds.yaml and a watchlist file: read no further than this
# YAML aliases can blow a small file up into a huge tree ("billion laughs"), and deep nesting exhausts the
# stack of every reader that walks it; these bound the work.
MAX_YAML_NODES = 200_000  # values, counted with aliases expanded
MAX_YAML_DEPTH = 64  # mappings and lists inside each other
_MERGE = "tag:yaml.org,2002:merge"  # the key '<<', unquoted
_SCALAR_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}
# YAML 1.1 reads some numbers otherwise than people write them: 025 is octal (21), 1:30 is base 60 (90),
# 0x1F is hexadecimal, and 1.10 loses its zero. These forms are handed on as written (see _read_otherwise).
_DECIMAL_INTEGER = re.compile(r"[-+]?(0|[1-9][0-9_]*)")
_DECIMAL_FRACTION = re.compile(r"[-+]?[0-9]+\.[0-9]+")
_ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")

KeyPath = tuple[str | int, ...]  # where a value sits in the YAML: ("feeds", 3, "interval")


# libyaml when PyYAML has it: ten times faster on a long feed list, and its nodes carry the same marks.
# A file it rejects is read again by the pure-Python parser, whose messages say more.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def compose(
    path: Path,
    *,
    role: str = "config file",
    missing: str = "create it, or pass --config / set MONITOR_CONFIG",
    empty: str = "add a 'feeds:' list with a name and url for each feed",
) -> yaml.Node:
    """The YAML node tree of ``path`` (the ``role`` file), or ConfigError for a missing (with the hint
    ``missing``), huge, empty (with the hint ``empty``) or malformed file."""

    def fail(message: str, hint: str | None, mark: _Mark | None = None) -> ConfigError:
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        return ConfigError([ConfigProblem(str(path), line, column, "", message, hint)])

    try:
        text = decode_text(read_bounded(path, MAX_FILE_BYTES))
    except FileNotFoundError:
        raise fail(f"{role} not found", missing) from None
    except FileTooLarge:
        size = describe_size(MAX_FILE_BYTES)
        raise fail(
            f"file is larger than {size}", "is this the right file? feeds.yaml is normally a few KB"
        ) from None
    except UnicodeDecodeError as error:
        byte = error.object[error.start : error.start + 1]
        raise fail(
            f"the file is not UTF-8 text: byte 0x{byte.hex()} cannot be read",
            "save it as UTF-8 (in Notepad: Save As, Encoding UTF-8); windows-1252 and Latin-1 are not read",
            _byte_mark(error.object, error.start),
        ) from None
    except OSError as error:
        raise fail(f"cannot read the config file: {error}", "it must be a readable UTF-8 text file") from None
    try:
        if (deep := _too_deep(text)) is not None:
            raise fail(
                f"the YAML nests more than {MAX_YAML_DEPTH} levels deep",
                "mappings and lists inside each other: is this the right file?",
                deep,
            )
        try:
            root = yaml.compose(text, Loader=_LOADER)
        except yaml.YAMLError:
            if _LOADER is yaml.SafeLoader:
                raise
            # The pure-Python parser says more about what is wrong (a tab, say): let it tell.
            root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        if mark is None:
            raise fail(f"YAML syntax error: {error.problem}", None) from None
        said = syntax_hint(text, str(error.problem), mark.line, mark.column, error.context)
        raise fail(said.message, said.hint, said) from None
    except yaml.reader.ReaderError as error:
        code = error.character if isinstance(error.character, int) else ord(error.character)
        hint = "delete it" + (
            "; a file full of them is UTF-16 without a byte order mark: save it as UTF-8" if code == 0 else ""
        )
        raise fail(
            f"the character U+{code:04X} is not allowed in YAML", hint, _text_mark(text, error.position)
        ) from None
    except yaml.YAMLError as error:
        raise fail(f"YAML syntax error: {error}", None) from None
    if root is None:
        raise fail(f"{role} is empty", empty)
    return root


# Windows Notepad saves "Unicode" as UTF-16 with a byte order mark; YAML allows UTF-16 and UTF-32 so marked.
# UTF-32 LE first: its mark starts with UTF-16 LE's.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes) -> str:
    """The text of a YAML file: UTF-8 (with or without a byte order mark), or UTF-16 or UTF-32 with one."""
    for mark, codec in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return data.decode(codec)
    return data.decode("utf-8-sig")


def _byte_mark(data: bytes, offset: int) -> yaml.Mark:
    """The line and column of the byte at ``offset`` (counting bytes: the text before it may not decode)."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return yaml.Mark("", offset, data.count(b"\n", 0, offset), offset - line_start, None, 0)


def _text_mark(text: str, offset: int) -> yaml.Mark:
    """The line and column of the character at ``offset``."""
    line_start = text.rfind("\n", 0, offset) + 1
    return yaml.Mark("", offset, text.count("\n", 0, offset), offset - line_start, None, 0)


def _read_otherwise(text: str, value: object) -> bool:
    """Whether YAML 1.1 reads the plain scalar ``text`` as another number than the decimal one it shows:
    025 (octal: 21), 1:30 (base 60: 90), 0x1F, 0b11, .inf, or 1.10 (the float 1.1, which a name or tag
    would show as 1.1)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return not _DECIMAL_INTEGER.fullmatch(text)
    if ":" in text or not math.isfinite(value):
        return True
    return bool(_DECIMAL_FRACTION.fullmatch(text)) and str(value) != text.lstrip("+")


def _too_deep(text: str) -> _Mark | None:
    """Where the YAML first nests deeper than ``MAX_YAML_DEPTH``, if it does. The parser's events come
    without recursion; composing them into nodes recurses once per level, so the depth is checked first."""
    # libyaml scans ahead and may stop at a syntax error (or its own depth limit) before it hands out the
    # events that go too deep; the pure-Python parser, which then reads the file again, does not.
    for loader in dict.fromkeys((_LOADER, yaml.SafeLoader)):
        depth = 0
        try:
            for event in yaml.parse(text, Loader=loader):
                if isinstance(event, yaml.CollectionStartEvent):
                    depth += 1
                    if depth > MAX_YAML_DEPTH:
                        return event.start_mark
                elif isinstance(event, yaml.CollectionEndEvent):
                    depth -= 1
            return None
        except yaml.YAMLError:
            continue
    return None  # a syntax error within the limit: composing reports it, with its best message


class YamlReader:
    """Builds plain data from YAML nodes, remembering where each path is and which came from ${VAR}."""

    def __init__(self, file: str, environ: Mapping[str, str]) -> None:
        self.file, self.environ = file, environ
        self.marks: dict[KeyPath, tuple[int, int]] = {}  # 1-based (line, column) of each key or item
        self.from_env: set[KeyPath] = set()
        self.env_names: dict[KeyPath, tuple[str, ...]] = {}  # the variables each such value names
        self.templates: dict[KeyPath, str] = {}  # each such value as written, its ${VAR} unexpanded
        self.unresolved: set[KeyPath] = set()  # already reported; pydantic's errors there would repeat them
        self.problems: list[ConfigProblem] = []
        self._nodes = 0
        self._constructor = yaml.constructor.SafeConstructor()

    def problem(self, path: KeyPath, message: str, hint: str | None = None) -> ConfigProblem:
        """A problem placed at ``path``, or at its nearest recorded parent."""
        for depth in range(len(path), -1, -1):
            if path[:depth] in self.marks:
                return ConfigProblem(self.file, *self.marks[path[:depth]], dotted(path), message, hint)
        return ConfigProblem(self.file, None, None, dotted(path), message, hint)

    def read(self, node: yaml.Node, path: KeyPath = (), mark: yaml.Mark | None = None) -> Any:
        """The plain value of ``node``; ``mark`` is where its key starts, if it has one."""
        mark = mark or node.start_mark
        self.marks[path] = (mark.line + 1, mark.column + 1)
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES or len(path) > MAX_YAML_DEPTH:
            hint = "an alias (*name) must not contain itself or multiply into a huge tree"
            raise ConfigError([self.problem(path[:2], "the file nests or repeats too much", hint)])
        if isinstance(node, yaml.MappingNode) and node.tag == "tag:yaml.org,2002:map":
            return self._read_mapping(node, path)
        if isinstance(node, yaml.SequenceNode) and node.tag == "tag:yaml.org,2002:seq":
            return [self.read(item, path + (index,)) for index, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode) and node.tag in _SCALAR_TAGS:
            try:
                value = self._constructor.construct_object(node)
            except (yaml.YAMLError, ValueError, OverflowError) as error:
                return self._unresolved(path, f"cannot read {node.value!r}: {error}", None)
            if _read_otherwise(node.value, value):
                # As written: a number field reads "025" as 25 and reports "1:30", a text field keeps "1.10".
                return node.value
            return self._expand(value, path) if isinstance(value, str) else value
        hint = "only plain YAML is allowed: mappings, lists, text, numbers, booleans"
        if isinstance(node, yaml.ScalarNode) and node.tag.startswith("!"):
            # "- !important news": YAML reads the word after the ! as a tag, not as text.
            hint += f"; a value that starts with ! is text in quotes: '{node.tag} {node.value}'"
        return self._unresolved(path, f"unsupported YAML tag {node.tag!r}", hint)

    def _unresolved(self, path: KeyPath, message: str, hint: str | None) -> None:
        """Report a value that could not be read; None stands in for it."""
        self.problems.append(self.problem(path, message, hint))
        self.unresolved.add(path)

    def _read_mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        """A dict, reporting repeated keys (PyYAML would silently keep the last)."""
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merges = [value_node for key_node, value_node in node.value if key_node.tag == _MERGE]
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(self.problem(path, "a key must be a plain word", None))
                continue
            # The key's text as written: "on:" names a key here, it is not YAML 1.1's True.
            key, mark = key_node.value, key_node.start_mark
            if key in first_line:
                message = f"duplicate key '{key}' (first on line {first_line[key]})"
                place = (mark.line + 1, mark.column + 1)  # this key's, not the first one's
                key_path = dotted(path + (key,))
                self.problems.append(ConfigProblem(self.file, *place, key_path, message, "remove one"))
            first_line.setdefault(key, mark.line + 1)
            result[key] = self.read(value_node, path + (key,), mark)
        pairs, refused = _merged_pairs(merges)
        if refused:
            hint = "write '<<: *name' (or '<<: [*a, *b]'), where '&name' marks a mapping"
            self.problems.append(self.problem(path, "'<<' merges mappings only", hint))
        for key_node, value_node in pairs:
            # The mapping's own keys win, then the first merged mapping's: YAML's merge key (<<).
            if key_node.value not in result:
                result[key_node.value] = self.read(value_node, path + (key_node.value,), key_node.start_mark)
        return result

    def _expand(self, text: str, path: KeyPath) -> str:
        """``text`` with ${VAR} and ${VAR:-default} replaced from the environment and $$ by $."""

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if match.group(0) == "$$":
                return "$"
            if name is None:
                hint = "write ${NAME} or ${NAME:-default}, and $$ for a literal $"
                self._unresolved(path, f"malformed reference {match.group(0)!r}", hint)
            elif name in self.environ or default is not None:
                return self.environ.get(name, default)
            else:
                hint = f"export {name}=... or use ${{{name}:-default}}"
                self._unresolved(path, f"environment variable {name} is not set", hint)
            return ""

        expanded = _ENV_REFERENCE.sub(substitute, text)
        # Redacted even when the default was used: a reference marks the value as one to keep out of sight.
        if names := tuple(dict.fromkeys(m.group(1) for m in _ENV_REFERENCE.finditer(text) if m.group(1))):
            self.from_env.add(path)
            self.env_names[path] = names
            self.templates[path] = text
        return expanded


def _merged_pairs(sources: list[yaml.Node]) -> tuple[list[tuple[yaml.ScalarNode, yaml.Node]], bool]:
    """The key and value nodes that ``<<: *defaults`` or ``<<: [*a, *b]`` bring into a mapping, in the order
    they take precedence (a merged mapping's own keys before those it merges in turn), and whether a
    source was something else than a mapping. Each mapping is visited once, however often it is named."""
    pairs: list[tuple[yaml.ScalarNode, yaml.Node]] = []
    refused, seen = False, set()
    queue = list(sources)
    while queue:
        source = queue.pop(0)
        if isinstance(source, yaml.SequenceNode):
            queue[:0] = source.value  # each in turn, before what follows
            continue
        if not isinstance(source, yaml.MappingNode):
            refused = True
            continue
        if id(source) in seen:
            continue
        seen.add(id(source))
        pairs += [(k, v) for k, v in source.value if k.tag != _MERGE and isinstance(k, yaml.ScalarNode)]
        queue[:0] = [v for k, v in source.value if k.tag == _MERGE]
    return pairs, refused


def dotted(path: KeyPath) -> str:
    """("feeds", 3, "interval") -> "feeds[3].interval"."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")
