"""The configuration as ``monitor check`` shows it: JSON-able, with every secret replaced by ***.

A value is hidden when its key is declared secret (``monitor.config.section.Secret``), wherever it was
written, when it came from ``${VAR}`` (unless its key names a place: ``PLACE_KEYS``), or when it is the
password of a URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlunsplit

from monitor.config.durations import format_duration
from monitor.config.errors import REDACTED
from monitor.config.reader import KeyPath
from monitor.config.schema import KIND_OPTIONS, Config
from monitor.config.section import declared_secrets
from monitor.config.values import split_url
from monitor.runtime.logs import is_secret_name

PLACE_KEYS = frozenset({"host", "port", "security", "from", "from_", "to", "listen", "timezone", "schedule"})
"""Keys whose value says where the daemon connects or sends, or when, not a credential: shown even when it
comes from ``${VAR}``. An SMTP host hidden from the logs hid every feed URL on that host with it, and the
address the daemon listens at; a host is no secret (its password is)."""


def names_a_place(path: KeyPath) -> bool:
    """Whether ``path`` (or the list it is an item of: an address of ``to``) is one of ``PLACE_KEYS``."""
    key = path[-2] if path and isinstance(path[-1], int) and len(path) > 1 else (path[-1] if path else "")
    return key in PLACE_KEYS


def _hidden_from_env(config: Config) -> frozenset[KeyPath]:
    """The paths of values that came from ``${VAR}`` and are hidden as secrets."""
    return frozenset(path for path in config._from_env if not names_a_place(path))


def redacted_dump(config: Config) -> dict[str, Any]:
    """The config as JSON-able data, with the values of keys declared secret, values from ${VAR} and
    passwords in URLs shown as ***."""
    declared = {path for path, value, _ in declared_secrets(config) if value}  # an empty one hides nothing
    dump = _redacted(config.model_dump(mode="json"), (), _hidden_from_env(config) | declared)
    # The check interval as it takes effect, under its own name only (watchlist.reload_every is its older one).
    dump["settings"]["config_check_every"] = format_duration(config.config_check_every)
    dump.get("watchlist", {}).pop("reload_every", None)
    for feed, shown in zip(config.feeds, dump["feeds"]):
        # Keys of other kinds of source are left out; the caps are shown as they take effect.
        for key, kinds in KIND_OPTIONS.items():
            if feed.kind not in kinds:
                shown.pop(key, None)
        if "max_pages" in shown and shown["max_pages"] != REDACTED:
            shown["max_pages"] = feed.pages_cap
        if "max_links" in shown and shown["max_links"] != REDACTED:
            shown["max_links"] = feed.links_cap
    return dump


def secret_values(config: Config) -> set[str]:
    """The values no log line may show: those from ${VAR} (as ``monitor check`` hides them: not a host or
    an address), passwords in URLs, and the values of keys declared secret even when written into the
    file."""
    found: set[str] = set()
    from_env = _hidden_from_env(config)

    def collect(value: Any, path: KeyPath) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                collect(item, path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                collect(item, path + (index,))
        elif isinstance(value, str):
            # Short values from the environment ("1", "true", a port) would blank out half of every line.
            if path in from_env and len(value) >= 8:
                found.add(value)
            if "://" in value and (parts := split_url(value)) and (password := parts.password):
                found.add(password)

    collect(config.model_dump(mode="json"), ())
    for path, value, in_mapping in declared_secrets(config):
        # Of a secret mapping (a webhook's headers), the values of secret-sounding names: a Content-Type
        # registered as a secret would blank out words of ordinary log lines.
        name = str(path[-1])
        if isinstance(value, str) and (
            not in_mapping or name.lower() in ("authorization", "cookie") or is_secret_name(name)
        ):
            found.add(value)
    return {value for value in found if value}


def _redacted(value: Any, path: KeyPath, hidden: frozenset[KeyPath]) -> Any:
    """``value`` with the paths in ``hidden`` and the password of every URL replaced by ***."""
    if path in hidden:
        return REDACTED
    if isinstance(value, dict):
        return {key: _redacted(item, path + (key,), hidden) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, path + (index,), hidden) for index, item in enumerate(value)]
    if isinstance(value, str) and "://" in value and (parts := split_url(value)) and parts.password:
        userinfo, _, host = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:{REDACTED}@{host}"))
    return value
