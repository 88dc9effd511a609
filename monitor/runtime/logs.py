"""Logging: text or JSON lines, quiet libraries, and no secret in any line at any level.

Every handler carries one ``RedactingFilter``: it formats the message with its arguments, then rewrites it,
the structured fields given with ``extra=`` and the traceback through ``redact``. Redaction happens there
and nowhere else, so a new log call cannot forget it. ``redact`` removes what looks like a secret (the
tokens of Slack webhook URLs, passwords in URLs, query parameters such as ``token=`` or ``sig=``,
``password=...`` in prose, Authorization values) and every value the configuration declares secret
(``register_secrets``), wherever it shows up.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from monitor.runtime.escapes import visible

REDACTED = "***"
FORMATS = ("text", "json")
# Libraries whose INFO and DEBUG lines are about their own plumbing (connections, migrations, job runs):
# shown only with -vv.
CHATTY_LIBRARIES = (
    "httpx",
    "httpcore",
    "hpack",
    "alembic",
    "apscheduler",
    "urllib3",
    "trafilatura",
    "htmldate",
    "courlan",
    "charset_normalizer",
    "asyncio",
    "aiosmtpd",
    "mail.log",
)
# Handed to child processes (the extraction workers), which start without this process's logging set-up.
# Not MONITOR_LOG_FORMAT itself: that one is the user's, read by --log-format.
_FORMAT_VARIABLE, _LEVEL_VARIABLE = "MONITOR_CHILD_LOG_FORMAT", "MONITOR_CHILD_LOG_LEVEL"
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

# --- what a secret looks like -----------------------------------------------------------------------------

_SECRET_WORDS = frozenset(
    {
        "token",
        "key",
        "apikey",
        "secret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "sig",
        "signature",
        "auth",
        "credential",
        "credentials",
        "session",
        "sessionid",
    }
)
# /services/T.../B.../token (Slack), and the same form on any host (a local relay, a test receiver): a team's
# id (T and capitals or digits) and another such id first, so that a site's own /services/ pages
# (/services/xml/rss/...) keep their address in the logs.
_WEBHOOK_PATH = re.compile(r"(/(?:services|triggers|workflows)/)(?=T[A-Z0-9]+/[A-Z0-9]+/)[^\s?#\"'<>]+")
_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^\s/@:?#\"'<>]*)(?::([^\s/@?#\"'<>]*))?@")
_QUERY_PARAMETER = re.compile(r"([?&;])([^=&#\s\"'<>]+)=([^&#\s\"'<>]*)")
_ASSIGNMENT = re.compile(
    r"(?i)\b((?:smtp[_ ]?)?(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|token))"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"'<>]+)"
)
_AUTHORIZATION = re.compile(r"(?i)\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}")

_known_secrets: tuple[str, ...] = ()
_secrets_lock = threading.Lock()


def register_secrets(values: Iterable[str]) -> None:
    """Add values (a password, a webhook URL) that must never appear in a log line, whatever their form."""
    global _known_secrets
    with _secrets_lock:
        known = set(_known_secrets) | {
            value for value in values if isinstance(value, str) and len(value) >= 4
        }
        # Longest first: a webhook URL is hidden whole before a shorter secret inside it is looked for.
        _known_secrets = tuple(sorted(known, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every secret replaced by ***."""
    if not text:
        return text
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _WEBHOOK_PATH.sub(lambda m: m.group(1) + REDACTED, text)
    text = _USERINFO.sub(_redact_userinfo, text)
    text = _QUERY_PARAMETER.sub(_redact_parameter, text)
    text = _ASSIGNMENT.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return _AUTHORIZATION.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def _redact_userinfo(match: re.Match[str]) -> str:
    scheme, user, password = match.groups()
    if password is not None:
        return f"{scheme}{user}:{REDACTED}@"
    # A lone user in a web URL is how tokens ride along (https://TOKEN@host); a database user is a name.
    if scheme.lower().rstrip(":/") in ("http", "https", "ws", "wss") and user:
        return f"{scheme}{REDACTED}@"
    return match.group(0)


def _redact_parameter(match: re.Match[str]) -> str:
    separator, name, value = match.groups()
    if not value or not is_secret_name(name):
        return match.group(0)
    return f"{separator}{name}={REDACTED}"


def is_secret_name(name: str) -> bool:
    """Whether a parameter or field called ``name`` holds a secret: token, api_key, X-Amz-Signature..."""
    lowered = name.lower()
    words = [word for word in re.split(r"[^a-z0-9]+", lowered) if word]
    return any(word in _SECRET_WORDS for word in words) or lowered.endswith(
        ("token", "secret", "password", "apikey", "signature")
    )


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and is_secret_name(key) else _redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no handler can print a secret: message and args, extra fields, traceback."""

    _traceback = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log call still gets a (redacted) line
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = redact(message), None
        for name, value in extra_fields(record).items():
            setattr(record, name, _redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a log call attached with ``extra=``."""
    return {
        name: value
        for name, value in vars(record).items()
        if name not in _RECORD_ATTRIBUTES and not name.startswith("_")
    }


# --- how a line looks ------------------------------------------------------------------------------------


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``, then the feed and URL of the record when the message leaves them out.

    A record is one line: control characters in it (an ESC sequence or a line break in a feed's title, URL
    or a server's answer) are written as escapes (``monitor.runtime.escapes``), here and only here, so no text from
    outside can recolour a terminal or forge a line of its own. A traceback keeps its lines.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # logging's name
        line = super().formatMessage(record)
        fields = extra_fields(record)
        for name in ("feed", "url"):
            if fields.get(name) is not None and f"{name}=" not in record.message:
                line += f" {name}={fields[name]}"
        return visible(line)

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        kept = record.exc_text, record.stack_info
        # Escaped for this line only: the record itself is left as it came (other handlers may read it).
        record.exc_text = visible(record.exc_text, lines=True) if record.exc_text else record.exc_text
        record.stack_info = visible(record.stack_info, lines=True) if record.stack_info else record.stack_info
        try:
            return super().format(record)
        finally:
            record.exc_text, record.stack_info = kept


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, every ``extra=`` field, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in extra_fields(record).items():
            entry.setdefault(name, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(*, verbosity: int = 0, log_format: str = "text", level: int | None = None) -> None:
    """Send every log record to stderr as text or JSON lines, through the redacting filter.

    Args:
        verbosity: the count of -v: WARNING, INFO (-v), DEBUG (-vv); at -vv the libraries' own chatter too.
        log_format: "text" or "json".
        level: overrides the level that ``verbosity`` gives (the daemon logs at INFO by default).
    """
    if log_format not in FORMATS:
        raise ValueError(f"unknown log format {log_format!r}; use text or json")
    level = max(logging.WARNING - 10 * verbosity, logging.DEBUG) if level is None else level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)  # Python's warnings become log lines too: JSON when JSON is asked for
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if verbosity >= 2 else max(level, logging.WARNING))
    os.environ[_FORMAT_VARIABLE] = log_format
    os.environ[_LEVEL_VARIABLE] = logging.getLevelName(level)


def set_level(level: int) -> None:
    """Raise or lower the root level after set-up (the daemon logs at INFO without -v)."""
    logging.getLogger().setLevel(level)
    os.environ[_LEVEL_VARIABLE] = logging.getLevelName(level)


def configure_child_logging() -> None:
    """In a child process (an extraction worker): the parent's format and level, when it set them."""
    log_format = os.environ.get(_FORMAT_VARIABLE)
    if log_format in FORMATS:
        level = logging.getLevelName(os.environ.get(_LEVEL_VARIABLE, "WARNING"))
        configure_logging(log_format=log_format, level=level if isinstance(level, int) else logging.WARNING)


def log_failure(
    logger: logging.Logger,
    what: str,
    then: str,
    *,
    cause: str | None,
    hint: str | None = None,
    extra: dict | None = None,
) -> None:
    """Log the failure being handled (call it in an ``except`` block): ``what`` failed, ``then`` what comes
    next. When the caller knows the ``cause`` to lie outside the code (a database that is locked or gone,
    ``monitor.store.db.unavailability``) the line names it, with the ``hint`` when the user can mend it
    (``monitor.store.db.remedy``), and ends there; otherwise the traceback follows, as for any bug.
    ``extra`` goes on the record (a feed, a URL), as ``logging`` takes it."""
    if cause is None:
        logger.exception("%s; %s", what, then, extra=extra)
    elif hint is None:
        logger.error("%s: the database is unavailable (%s); %s", what, cause, then, extra=extra)
    else:
        logger.error(
            "%s: the database is unavailable (%s); %s. Hint: %s", what, cause, then, hint, extra=extra
        )
