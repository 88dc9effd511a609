"""The configuration: feeds.yaml -> validated, frozen settings, each problem reported at its line.

    errors.py      ConfigProblem, ConfigError, and InvalidValue: the one complaint about a value, with a hint
    section.py     Section, the base of every section model, and ``secret()``, which declares a key secret
    values.py      checks shared by sections: names, http(s) URLs
    reader.py      YAML -> plain data, bounded, remembering each value's line and which came from ${VAR}
    syntaxhints.py what a YAML syntax error most likely comes from: a tab, a non-breaking space, a ": "
    validation.py  pydantic's errors -> ConfigProblems at their lines, with hints
    schema.py      the sections of feeds.yaml (Settings, FeedConfig, ...) and Config, the whole file
    load.py        load_config: reader, then schema, then the watchlist
    dump.py        the redacted dump of ``monitor check`` and the secrets kept out of the logs
    edit.py        adding feeds to feeds.yaml as text, keeping its comments

The names below are imported on first use rather than here: the section models of other packages
(``monitor.digest.notify.settings``, ``monitor.watchlist.model``) import the leaf modules of this package, and
the schema imports them in turn, so importing everything here would be a cycle.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "errors": ("REDACTED", "ConfigError", "ConfigProblem", "InvalidValue"),
    "section": ("Section", "is_secret", "secret"),
    "values": ("check_name", "invisible_problem", "split_url", "url_problem"),
    "reader": ("MAX_FILE_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "KeyPath", "YamlReader", "compose"),
    "validation": ("validation_problems",),
    "schema": (
        "DEFAULT_MAX_LINKS",
        "DEFAULT_MAX_PAGES",
        "Config",
        "DedupSettings",
        "FeedConfig",
        "RetentionSettings",
        "Settings",
        "WebSubSettings",
        "configured_listen",
        "listen_address",
    ),
    "load": ("load_config",),
    "dump": ("redacted_dump", "secret_values"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # what the names above resolve to, for type checkers and editors
    from monitor.config.dump import redacted_dump as redacted_dump
    from monitor.config.dump import secret_values as secret_values
    from monitor.config.errors import REDACTED as REDACTED
    from monitor.config.errors import ConfigError as ConfigError
    from monitor.config.errors import ConfigProblem as ConfigProblem
    from monitor.config.errors import InvalidValue as InvalidValue
    from monitor.config.load import load_config as load_config
    from monitor.config.reader import MAX_FILE_BYTES as MAX_FILE_BYTES
    from monitor.config.reader import MAX_YAML_DEPTH as MAX_YAML_DEPTH
    from monitor.config.reader import MAX_YAML_NODES as MAX_YAML_NODES
    from monitor.config.reader import KeyPath as KeyPath
    from monitor.config.reader import YamlReader as YamlReader
    from monitor.config.reader import compose as compose
    from monitor.config.schema import DEFAULT_MAX_LINKS as DEFAULT_MAX_LINKS
    from monitor.config.schema import DEFAULT_MAX_PAGES as DEFAULT_MAX_PAGES
    from monitor.config.schema import Config as Config
    from monitor.config.schema import DedupSettings as DedupSettings
    from monitor.config.schema import FeedConfig as FeedConfig
    from monitor.config.schema import RetentionSettings as RetentionSettings
    from monitor.config.schema import Settings as Settings
    from monitor.config.schema import WebSubSettings as WebSubSettings
    from monitor.config.schema import configured_listen as configured_listen
    from monitor.config.schema import listen_address as listen_address
    from monitor.config.section import Section as Section
    from monitor.config.section import is_secret as is_secret
    from monitor.config.section import secret as secret
    from monitor.config.validation import validation_problems as validation_problems
    from monitor.config.values import check_name as check_name
    from monitor.config.values import invisible_problem as invisible_problem
    from monitor.config.values import split_url as split_url
    from monitor.config.values import url_problem as url_problem
