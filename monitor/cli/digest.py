"""``monitor digest NAME``: preview a digest as HTML, or send it now, through the same ledger the daemon
uses (so a digest sent by hand is not sent again by the daemon)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli import JsonOption, app, fail, out, parse_since_option, print_json, state_of
from monitor.errors import MonitorError


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
            preview.parent.mkdir(parents=True, exist_ok=True)
            preview.write_text(rendered.html, encoding="utf-8")
            preview.with_suffix(".txt").write_text(rendered.text, encoding="utf-8")
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
                    f"wrote {preview} ({rendered.content.stories} stories): {rendered.subject}",
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
        out.print(
            f"{outcome.channel}: {outcome.status} ({outcome.stories} stories){detail}",
            highlight=False,
            markup=False,
        )
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(code=1)
