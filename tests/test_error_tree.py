"""Every error monitor defines is a MonitorError with a hint, and errors.py draws each of them in its tree.

The package is walked rather than listed by hand, so a new error class that forgets its root (or its place in
the drawing) fails here instead of surfacing as a traceback in front of a user."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path

from support.monitormodules import NOT_IMPORTED_BY_TESTS, importable_modules

from monitor import errors
from monitor.errors import MonitorError

# Exceptions that are not errors a user can act on, and so stay outside the root on purpose.
OUTSIDE_THE_ROOT = {
    # Raised inside a dry run's transaction only to roll it back; never leaves retention.prune.
    "monitor.retention._RolledBack",
}

# Errors the CLI prints (message, then hint if any) whose class carries no general hint: each raise site gives
# the hint that fits it, or writes the advice into the message (a missing database names `monitor db upgrade`),
# and a general one would add a line to output that users and tests read.
HINT_AT_EACH_RAISE = {
    "monitor.errors.MonitorError",
    "monitor.errors.StoreError",
    "monitor.store.schema.SchemaError",
    "monitor.config.errors.ConfigError",  # lists its problems, each with its own hint
    "monitor.ingest.opml.OpmlError",
    "monitor.digest.notify.DeliveryError",
}


def _exception_classes() -> dict[str, type[BaseException]]:
    found = {}
    for name in importable_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_the_modules_not_imported_define_no_error():
    # They are read instead of imported, so that an error class cannot hide there.
    for name in NOT_IMPORTED_BY_TESTS:
        source = Path(importlib.util.find_spec(name).origin).read_text(encoding="utf-8")
        assert not any(isinstance(node, ast.ClassDef) for node in ast.walk(ast.parse(source))), name


def test_every_error_of_monitor_derives_from_the_root():
    outside = sorted(
        name
        for name, cls in _exception_classes().items()
        if not issubclass(cls, MonitorError) and name not in OUTSIDE_THE_ROOT
    )
    assert outside == []


def test_the_allow_list_names_only_classes_that_exist():
    assert OUTSIDE_THE_ROOT <= set(_exception_classes())


def test_every_error_carries_a_hint():
    unhinted = sorted(
        name
        for name, cls in _exception_classes().items()
        if issubclass(cls, MonitorError) and not cls.hint and name not in HINT_AT_EACH_RAISE
    )
    assert unhinted == []


def test_the_docstring_tree_names_every_error():
    drawing = errors.__doc__ or ""
    missing = sorted(
        name
        for name, cls in _exception_classes().items()
        if issubclass(cls, MonitorError) and f" {cls.__name__} " not in drawing.replace("\n", " \n")
    )
    assert missing == []


def test_a_class_hint_stays_out_of_the_message_text():
    # str() is what is stored as a feed's last error and what pydantic shows; only a hint given at the raise
    # site belongs in it.
    from monitor.ingest.feeditems import NotAFeed

    assert str(NotAFeed("not a feed")) == "not a feed"
    assert NotAFeed("not a feed").hint
    assert str(MonitorError("broken", hint="mend it")) == "broken\n  hint: mend it"


def test_errors_that_pydantic_validates_stay_value_errors():
    from monitor.config import InvalidValue
    from monitor.watchlist.query import QuerySyntaxError

    assert issubclass(InvalidValue, ValueError) and issubclass(QuerySyntaxError, ValueError)
    assert str(InvalidValue("invalid duration 'x'", "use 15m")) == "invalid duration 'x': use 15m"
