"""``monitor digest NAME``: preview a digest as HTML, or send it now, through the same ledger the daemon
uses (so a digest sent by hand is not sent again by the daemon)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from monitor.cli import (
    MAX_LIMIT,
    JsonOption,
    app,
    database_or_exit,
    err,
    fail,
    out,
    parse_since_option,
    print_json,
    state_of,
    when,
)
from monitor.cli.output import styled
from monitor.errors import MonitorError
from monitor.runtime.plurals import plural

if TYPE_CHECKING:
    from monitor.store.deliveries import DeliveryRecord


class DeliveryKind(StrEnum):
    digest = "digest"
    alert = "alert"


@app.command()
def digest(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The digest's name in feeds.yaml.")],
    preview: Annotated[
        Path | None,
        typer.Option("--preview", metavar="FILE.html", help="Write it as HTML (and FILE.txt); send nothing."),
    ] = None,
    send_now: Annotated[
        bool, typer.Option("--send-now", help="Send it now on every configured channel.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="Reach back this far (2d, 12h, 2024-09-01) instead of the digest's lookback; with --preview, "
            "show everything matched since then, sent or not."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Preview a digest (--preview FILE.html) or send it now (--send-now)."""
    from monitor.digest.runner import DigestRunner, topic_titles
    from monitor.pipeline import instance_name
    from monitor.watchlist import load_watchlist

    if (preview is None) == (not send_now):
        raise typer.BadParameter("give one of --preview FILE.html or --send-now", param_hint="--preview")
    if preview is not None and preview.with_suffix(".txt") == preview:
        # The text is written beside the HTML as FILE.txt: over the HTML itself, it left the text alone.
        raise typer.BadParameter(
            f"{preview} names the HTML file, and its text goes beside it as FILE.txt: name it FILE.html",
            param_hint="--preview",
        )
    now = datetime.now(UTC)
    since_at = parse_since_option(since)
    state = state_of(ctx)
    try:
        config = state.config()
        settings = config.digest(name)
        watchlist = load_watchlist(config)
        db = state.database()
    except MonitorError as exc:
        raise fail(exc) from exc
    runner = DigestRunner(
        db, settings, owner=f"cli:{instance_name()}", titles=lambda: topic_titles(watchlist)
    )
    try:
        if preview is not None:
            rendered = runner.preview(now=now, since=since_at)
            try:
                preview.parent.mkdir(parents=True, exist_ok=True)
                preview.write_text(rendered.html, encoding="utf-8")
                preview.with_suffix(".txt").write_text(rendered.text, encoding="utf-8")
            except OSError as exc:
                # A directory, a path monitor may not write, a full disk: said in one line, not a traceback.
                raise fail(
                    MonitorError(
                        f"cannot write the preview to {exc.filename or preview}: {exc.strerror or exc}",
                        hint="give --preview a file in a directory you may write, e.g. /tmp/digest.html",
                    )
                ) from exc
            summary = {
                "digest": settings.name,
                "file": str(preview),
                "stories": rendered.content.stories,
                "subject": rendered.subject,
                "slack_messages": len(rendered.slack),
            }
            if as_json:
                print_json(summary)
            else:
                out.print(
                    f"wrote {preview} ({plural(rendered.content.stories, 'story', 'stories')}): {rendered.subject}",
                    highlight=False,
                    markup=False,
                )
            return
        # By hand, the period is this moment: it never collides with a scheduled one.
        outcomes = runner.run(period=now, now=now, since=since_at)
    finally:
        db.dispose()
    if as_json:
        print_json([outcome.__dict__ for outcome in outcomes])
    elif not outcomes:
        out.print(f"digest {settings.name}: no channel can send (see the log lines above)", highlight=False)
    for outcome in outcomes if not as_json else ():
        detail = f", retry at {outcome.next_attempt_at:%H:%M:%S}: {outcome.error}" if outcome.error else ""
        # A delivery owed on the channel goes first: said as what it is, not as a second run of this one.
        owed = (
            ""
            if outcome.period == now
            else f" (the {outcome.kind} of {outcome.period:%Y-%m-%d %H:%M} UTC, owed)"
        )
        stories = f"{outcome.stories} {'story' if outcome.stories == 1 else 'stories'}"
        out.print(
            f"{outcome.channel}: {outcome.status} ({stories}){owed}{detail}",
            highlight=False,
            markup=False,
        )
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(code=1)


def _names_of(ctx: typer.Context, name: str) -> tuple[str, ...]:
    """``name`` and the names the digest had (``renamed_from``), as feeds.yaml says when it can be read."""
    try:
        config = state_of(ctx).config()
    except MonitorError:
        return (name,)
    return next((digest.names for digest in config.digests if digest.name == name), (name,))


@app.command()
def deliveries(
    ctx: typer.Context,
    digest_name: Annotated[
        str | None, typer.Option("--digest", metavar="NAME", help="Only this digest's deliveries.")
    ] = None,
    kind: Annotated[
        DeliveryKind | None,
        typer.Option(
            help="Only scheduled digests or only alerts (a busy day's alerts, one a minute, push the digests "
            "out of the latest 50)."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only deliveries for periods since, e.g. 2d, 6h, 2024-09-01.")
    ] = None,
    limit: Annotated[
        int, typer.Option(help="At most this many deliveries (0: no limit).", min=0, max=MAX_LIMIT)
    ] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the latest deliveries of digests and alerts, newest first: whether each was sent, how many of its
    articles its channel accepted, and for a failed one the error and when it is tried again."""
    from monitor.store import deliveries as ledger

    since_at = parse_since_option(since)
    names = _names_of(ctx, digest_name) if digest_name is not None else None
    db = database_or_exit(ctx)
    with db.session() as session:
        records = ledger.history(
            session, digest=names, kind=kind.value if kind else None, since=since_at, limit=limit or None
        )
    db.dispose()
    if digest_name is not None:
        _say_if_not_configured(ctx, digest_name, listed=len(records))
    if as_json:
        print_json([asdict(record) for record in records])
        return
    now = datetime.now(UTC)
    table = Table(title=f"Deliveries ({len(records)})", title_justify="left")
    for column in ("period", "digest", "channel", "status", "articles", "when"):
        table.add_column(column, justify="right" if column == "articles" else "left")
    for record in records:
        table.add_row(
            f"{record.period:%Y-%m-%d %H:%M}",
            record.digest,
            record.channel if record.kind == "digest" else f"{record.channel} ({record.kind})",
            _status(record),
            f"{record.delivered}/{record.articles}"
            if record.delivered != record.articles
            else str(record.articles),
            _when(record, now),
        )
    out.print(table)
    out.print(
        styled(
            "[dim]periods in UTC; articles: accepted/carried when the channel took only part; unconfirmed: may "
            "have arrived, tried again under the same message id[/]"
        )
    )
    for record in records:
        if record.error and record.status in ("failed", "unconfirmed"):
            out.print(
                styled(
                    "[red]{}[/] {} {} {}: {}",
                    record.status,
                    record.digest,
                    record.channel,
                    f"{record.period:%Y-%m-%d %H:%M}",
                    record.error,
                )
            )
        # Put off while another recipient took it, an address is sent the message alone at the retries; put
        # off with everyone else, the retries go to all.
        reached = any(recipient.status == "accepted" for recipient in record.recipients)
        for recipient in record.recipients:
            if recipient.status in _RECIPIENT_FATES:
                out.print(
                    styled(
                        "[yellow]{}[/] {} {} {}: {}: {} ({})",
                        recipient.status,
                        record.digest,
                        record.channel,
                        f"{record.period:%Y-%m-%d %H:%M}",
                        recipient.address,
                        recipient.reply or "",
                        _RECIPIENT_FATES[recipient.status]
                        if reached or recipient.status != "deferred"
                        else "refused for now, as were the others: its retries go to all",
                    )
                )


_RECIPIENT_FATES = {
    "deferred": "refused for now: its retries send it to this recipient alone",
    "refused": "refused for good: check the address in to:, or remove it",
}


def _say_if_not_configured(ctx: typer.Context, name: str, *, listed: int) -> None:
    """On stderr: a digest feeds.yaml does not have (a mistyped --digest listed nothing and exited 0, as if the
    digest had never run), as ``matches --topic`` says of a topic."""
    try:
        digests = state_of(ctx).config().digests
    except MonitorError:
        return  # the ledger is listed without the file: `monitor check` says what is wrong with it
    if any(name in digest.names for digest in digests):
        return
    what = "these are deliveries made before" if listed else "no delivery of it is recorded"
    known = ", ".join(digest.name for digest in digests)
    err.print(
        f"note: feeds.yaml has no digest {name!r} ({what}); its digests: {known or 'none'}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _status(record: DeliveryRecord) -> str:
    """The status, with the attempts that failed (``attempts`` counts those), and the recipients refused
    for good of a delivery sent to the others."""
    refused = sum(recipient.status == "refused" for recipient in record.recipients)
    besides = f", {refused} of {len(record.recipients)} refused" if refused else ""
    if record.attempts == 0:
        return record.status + besides
    tries = "1 try" if record.attempts == 1 else f"{record.attempts} tries"
    return (
        f"sent after {tries} failed" if record.status == "sent" else f"{record.status}, {tries}"
    ) + besides


def _when(record: DeliveryRecord, now: datetime) -> str:
    """When it was sent; when a failed one is tried again; who is sending one, or that its sender is gone."""
    if record.sent_at is not None:
        return f"sent {when(record.sent_at, now)}"
    if record.status in ("failed", "unconfirmed"):
        # One past its time waits for a daemon to run: "next try 22s ago" read as a try that was made.
        due = record.next_attempt_at is not None and record.next_attempt_at <= now
        return f"next try {'due ' if due else ''}{when(record.next_attempt_at, now)}"
    if record.status != "sending":
        return "-"
    if record.lease_until is None or record.lease_until < now:
        return "its sender is gone: due again"
    return f"by {record.lease_owner}, lease ends {when(record.lease_until, now)}"
