"""Maintenance: ``monitor prune`` applies the retention windows of feeds.yaml now."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from monitor.cli import JsonOption, app, database_or_exit, fail, out, print_json, state_of
from monitor.errors import MonitorError


@app.command()
def prune(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go; delete nothing.")] = False,
    vacuum: Annotated[
        bool,
        typer.Option(
            "--vacuum",
            help="Afterwards rebuild the SQLite file whole (VACUUM) in "
            "auto_vacuum=INCREMENTAL mode: needed once for a database made "
            "before retention; locks it while it copies.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete what is older than the `retention:` windows of feeds.yaml (the daemon does it daily)."""
    from monitor import retention

    try:
        config = state_of(ctx).config()
    except MonitorError as exc:
        raise fail(exc) from exc
    db = database_or_exit(ctx)
    rebuilt = None
    try:
        report = retention.prune(db, config.retention, dry_run=dry_run)
        if vacuum and not dry_run:
            rebuilt = retention.vacuum_whole(db)
    finally:
        db.dispose()
    if as_json:
        print_json(
            report.as_json() | ({"vacuum": {"before": rebuilt[0], "after": rebuilt[1]}} if rebuilt else {})
        )
        return
    table = Table("table", "would go" if dry_run else "deleted", box=None)
    for name, count in sorted(report.rows.items()):
        # Not deleted: each feed link of a pruned article leaves a row, so the entry is known if listed again.
        shown = "pruned_entries (added, to know the entries again)" if name == "pruned_entries" else name
        table.add_row(shown, str(count))
    table.add_row("article_matches (evidence emptied)", str(report.evidence_reduced))
    out.print(table)
    windows = ", ".join(
        f"{name} before {cutoff:%Y-%m-%d %H:%M}" if cutoff else f"{name} kept"
        for name, cutoff in report.cutoffs.items()
    )
    out.print(("dry run: nothing deleted; " if dry_run else "") + windows)
    if report.owed_kept:
        out.print(
            f"{report.owed_kept} articles past the window kept: deliveries not sent yet owe them "
            "(monitor deliveries lists them)"
        )
    if report.vacuumed_pages:
        out.print(f"{report.vacuumed_pages} free pages given back to the file system")
    if rebuilt is not None:
        before, after = (round(size / 2**20, 1) for size in rebuilt)
        out.print(f"rebuilt whole (VACUUM): {before} MB before, {after} MB after")
    elif vacuum and not dry_run:
        out.print("--vacuum: nothing to rebuild on PostgreSQL (autovacuum reuses the space)")
