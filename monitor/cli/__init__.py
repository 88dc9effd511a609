"""The ``monitor`` command line. Each group of commands lives in its own module and registers on ``app``."""

from __future__ import annotations

import codecs
import json
import logging
import re
import shlex
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor import __version__
from monitor.cli.output import SafeConsole, styled
from monitor.config import Config, load_config, secret_values
from monitor.config.durations import parse_since
from monitor.errors import MonitorError
from monitor.runtime.logs import configure_logging, register_secrets
from monitor.store.db import (
    Database,
    default_database_url,
    open_database,
    remedy,
    sqlite_file,
    unavailability,
)
from monitor.store.schema import migrate as migrate_schema
from monitor.store.schema import require_current

app = typer.Typer(
    help="Media monitoring: polls news feeds, extracts full articles, and keeps them in a database.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")

# Text from outside is shown, never obeyed: no markup, control characters as escapes (monitor.cli.output).
out = SafeConsole(soft_wrap=True)
# Errors carry file:line places that users grep and copy: never wrapped at the terminal width.
err = SafeConsole(stderr=True, soft_wrap=True)


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MAX_LIMIT = 10_000_000
"""The most a listing's --limit may ask (0 asks for no limit): a negative one listed the whole table on
SQLite, and one past a 64-bit integer ended in a traceback."""


@dataclass
class AppState:
    config_path: Path
    db_url: str | None
    config_source: str = "DEFAULT"
    """Where --config's value came from, by the name of Click's parameter source: DEFAULT, COMMANDLINE,
    ENVIRONMENT."""
    db_source: str = "DEFAULT"
    _config: Config | None = field(default=None, repr=False)

    @property
    def config_given(self) -> bool:
        """--config or MONITOR_CONFIG named the file (not the default ./feeds.yaml): it must exist."""
        return self.config_source != "DEFAULT"

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
            # From here on no log line shows the config's secrets, whatever the code that logs them.
            register_secrets(secret_values(self._config))
        return self._config

    def database_url(self) -> str:
        return self.db_url or default_database_url(self.config_path)

    def database(self, *, migrate: bool = False, check: bool = True) -> Database:
        """The database, as the schema rules allow (``monitor.store.schema``).

        Args:
            migrate: bring the schema up to date first (only ``run`` and ``db upgrade`` do).
            check: refuse a database that is missing, behind or newer; False opens it as it is.
        """
        db = open_database(self.database_url(), migrate=False)
        try:
            prepare_schema(db, migrate=migrate, check=check)
        except BaseException:
            db.dispose()
            raise
        return db

    def command(self, args: str) -> str:
        """``monitor ARGS`` with the --config and --db this command was given (as options: the variables
        of the environment are there for the next command too); a password in the URL shows as ***."""
        words = ["monitor"]
        if self.config_source == "COMMANDLINE":
            words += ["--config", shlex.quote(str(self.config_path))]
        if self.db_source == "COMMANDLINE" and self.db_url:
            words += ["--db", shlex.quote(Database.describe_url(self.db_url))]
        return " ".join([*words, args])


def prepare_schema(db: Database, *, migrate: bool, check: bool) -> None:
    """Bring ``db``'s schema up to date (``migrate``), or refuse one that is missing, behind or newer (``check``)."""
    if migrate:
        before, after = migrate_schema(db)
        if before != after:  # the daemon's start: said once, as `db upgrade` says it
            logging.getLogger("monitor").info(
                "database %s: schema upgraded %s -> %s", db.describe(), before or "empty", after
            )
    elif check:
        require_current(db)


def state_of(ctx: typer.Context) -> AppState:
    return ctx.obj


def _print_version(value: bool) -> None:
    # Eager: it answers before Click asks for a command.
    if value:
        out.print(f"monitor {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path, typer.Option("--config", "-c", envvar="MONITOR_CONFIG", help="The feeds.yaml to use.")
    ] = Path("feeds.yaml"),
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="MONITOR_DATABASE_URL",
            show_default=False,
            help="Database URL; default: an SQLite file monitor.db next to the config.",
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: debug).")
    ] = 0,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format", envvar="MONITOR_LOG_FORMAT", help="Log lines as text or as JSON objects."
        ),
    ] = LogFormat.TEXT,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    global _command
    configure_logging(verbosity=verbose, log_format=log_format.value)
    # By the sources' names: typer's Click is its own, and its enum is not public.
    ctx.obj = _command = AppState(
        config,
        db,
        config_source=getattr(ctx.get_parameter_source("config"), "name", "DEFAULT"),
        db_source=getattr(ctx.get_parameter_source("db"), "name", "DEFAULT"),
    )


_command: AppState | None = None
"""The state of the command this process runs: ``run`` names its database when the database fails it."""


def run() -> None:
    """Run the command line. A database that refuses a command's work midway (a full disk, a file monitor
    may not write, a server gone) ends it in one line naming the cause, with what to do when that is the
    user's to mend, and exit status 2; any other exception keeps its traceback, as a bug."""
    _escape_what_the_streams_cannot_encode()
    try:
        app(prog_name="monitor")
    except Exception as exc:
        cause = unavailability(exc)
        if cause is None or _command is None:
            raise
        url = _command.database_url()
        shown = Database.describe_url(url)
        err.print(styled("[bold red]error:[/] database {} refused the work: {}", shown, cause))
        hint = remedy(exc, sqlite_file(url))
        if hint:
            err.print(styled("[yellow]hint:[/] {}", hint))
        raise SystemExit(2) from None


def _takes_unicode(stream: Any) -> bool:
    """Whether ``stream`` encodes every character (UTF-8, or another UTF)."""
    try:
        return codecs.lookup(getattr(stream, "encoding", None) or "ascii").name.startswith("utf")
    except LookupError:
        return False


def _escape_what_the_streams_cannot_encode() -> None:
    """On a stdout or stderr in a narrow charset (``PYTHONIOENCODING=ascii``, a Latin-1 locale), a title in
    Cyrillic or a "…" ended a listing in a UnicodeEncodeError traceback: what cannot be encoded is shown as
    an escape instead."""
    for stream in (sys.stdout, sys.stderr):
        if not _takes_unicode(stream) and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def database_or_exit(ctx: typer.Context) -> Database:
    """The database at the schema this version needs, or a clean exit with the reason."""
    try:
        return state_of(ctx).database()
    except MonitorError as exc:
        raise fail(exc) from exc


def fail(exc: MonitorError) -> typer.Exit:
    message = exc.message
    if _command is not None:
        # The command advised works on this one's database: `monitor db upgrade` alone, after a command
        # given --config or --db, upgraded another (./monitor.db).
        message = message.replace("`monitor db upgrade`", f"`{_command.command('db upgrade')}`")
    err.print(styled("[bold red]error:[/] {}", message))
    if exc.hint:
        err.print(styled("[yellow]hint:[/] {}", exc.hint))
    return typer.Exit(code=2)


def print_json(value: Any) -> None:
    # Characters as they are where stdout takes them; else as JSON's \\u escapes, which every JSON reader
    # reads back (a stdout in ASCII or Latin-1 ended in a traceback, with half a document written).
    text = json.dumps(value, ensure_ascii=not _takes_unicode(sys.stdout), indent=2, default=_json_default)
    # JSON escapes C0 controls itself, but not C1 ones (U+0080 to U+009F), which some terminals obey.
    sys.stdout.write(_C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


_C1 = re.compile("[\x80-\x9f]")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def parse_since_option(value: str | None) -> datetime | None:
    """The moment a ``--since`` option names (a duration back from now, or a date); None when not given."""
    try:
        return parse_since(value, datetime.now(UTC)) if value else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from exc


def when(value: datetime | None, now: datetime) -> str:
    """A timestamp for humans: relative for the recent past and near future."""
    if value is None:
        return "-"
    seconds = (value - now).total_seconds()
    magnitude = abs(seconds)
    if magnitude < 90:
        text = f"{magnitude:.0f}s"
    elif magnitude < 5400:
        text = f"{magnitude / 60:.0f}m"
    elif magnitude < 36000:
        # Hours and minutes: a 2h30m interval read "in 3h" in whole hours.
        hours, minutes = divmod(round(magnitude / 60), 60)
        text = f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    elif magnitude < 172800:
        text = f"{magnitude / 3600:.0f}h"
    else:
        return f"{value:%Y-%m-%d %H:%M}"
    return f"in {text}" if seconds > 0 else f"{text} ago"


# Command modules register themselves on `app` when imported.
from monitor.cli import (  # noqa: E402 - they need `app`, defined above
    digest,  # noqa: F401
    ingest,  # noqa: F401
    maintenance,  # noqa: F401
    sources,  # noqa: F401
    stories,  # noqa: F401
    watchlist,  # noqa: F401
)
