"""Source commands: discover a site's feeds and sitemaps; import and export OPML subscription lists."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
import yaml
from rich.table import Table

from monitor.cli import JsonOption, app, err, fail, out, print_json, state_of
from monitor.cli.output import styled
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.runtime.plurals import plural

import_app = typer.Typer(help="Add feeds from another reader's list.", no_args_is_help=True)
export_app = typer.Typer(help="Write the configured feeds in another reader's format.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")


def _config_or_defaults(ctx: typer.Context) -> Config:
    """The configuration; its defaults when there is no config file yet (discovery needs none)."""
    state = state_of(ctx)
    if not state.config_path.exists():
        return Config()
    return state.config()


@app.command()
def discover(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="A page of the site, usually its front page.")],
    add: Annotated[bool, typer.Option("--add", help="Append the entries found to the config file.")] = False,
    max_probes: Annotated[int, typer.Option(min=0, max=50, help="Guessed paths fetched at most.")] = 12,
    as_json: JsonOption = False,
) -> None:
    """Find the feeds and sitemaps a site offers and print them as feeds.yaml entries."""
    from monitor.ingest.discover import discover as find
    from monitor.ingest.discover import entries

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        hint = f"write it in full: https://{url}" if "://" not in url else "write it as https://host/..."
        raise fail(MonitorError(f"{url!r} is not an absolute http(s) URL", hint=hint))
    try:
        config = _config_or_defaults(ctx)
    except MonitorError as exc:
        raise fail(exc) from exc
    discovery = asyncio.run(_discover(config, url, max_probes, find))
    found = entries(discovery, taken_names={feed.name for feed in config.feeds})
    added = skipped = None
    if add and found:
        from monitor.config.edit import add_feeds

        try:
            result = add_feeds(state_of(ctx).config_path, found)
        except MonitorError as exc:
            raise fail(exc) from exc
        added, skipped = result.added, result.skipped
    if as_json:
        print_json(
            {
                "url": discovery.url,
                "title": discovery.title,
                "feeds": [f.__dict__ for f in discovery.feeds],
                "sitemaps": [s.__dict__ for s in discovery.sitemaps],
                "page": discovery.page.__dict__ if discovery.page else None,
                "entries": found,
                "added": list(added) if added is not None else None,
                "skipped": [{"entry": e, "reason": r} for e, r in skipped] if skipped is not None else None,
                "problems": list(discovery.problems),
                "requests": discovery.requests,
            }
        )
    else:
        _print_discovery(discovery, found)
        if added is not None:
            out.print(f"added {len(added)} to {state_of(ctx).config_path}", highlight=False, soft_wrap=True)
            for entry, reason in skipped or ():  # set with added
                out.print(
                    f"skipped {entry['name']} ({entry['url']}): {reason}", highlight=False, soft_wrap=True
                )
    if not found:
        raise typer.Exit(code=1)


async def _discover(config: Config, url: str, max_probes: int, find):
    from monitor.ingest.robots import RobotsCache

    async with _fetcher(config) as fetcher:
        robots = RobotsCache(fetcher) if config.settings.respect_robots else None
        return await find(url, fetcher, robots=robots, max_probes=max_probes)


def _fetcher(config: Config):
    """A fetcher like the pipeline's: the same User-Agent, limits and per-host delays as polling."""
    from monitor.ingest.fetchtools import fetcher_for

    return fetcher_for(config.settings)


def _print_discovery(discovery, found: list[dict]) -> None:
    table = Table(title=f"Found on {discovery.url} ({discovery.requests} requests)", title_justify="left")
    for column in ("kind", "title", "entries", "found by", "url"):
        table.add_column(column, justify="right" if column == "entries" else "left", overflow="fold")
    for item in (*discovery.feeds, *discovery.sitemaps, *([discovery.page] if discovery.page else [])):
        kind = item.kind + (" (news)" if item.news else "")
        table.add_row(kind, item.title or "-", str(item.entries), item.via, item.url)
    out.print(table)
    for problem in discovery.problems:
        err.print(styled("[yellow]warning:[/] {}", problem), soft_wrap=True)
    if not found:
        err.print(
            styled("[red]nothing to watch found[/]: no feed, sitemap or list of articles"), soft_wrap=True
        )
        return
    out.print("# feeds.yaml entries (add them with --add):", highlight=False, markup=False)
    out.print(
        yaml.safe_dump(found, sort_keys=False, allow_unicode=True, default_flow_style=None).rstrip(),
        highlight=False,
        markup=False,
    )


@import_app.command("opml")
def import_opml(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The OPML file exported from a feed reader.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be added; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add the feeds of an OPML file to the config file (folders become tags)."""
    from monitor.config.edit import add_feeds
    from monitor.ingest.opml import read_opml

    path = state_of(ctx).config_path
    try:
        listing = read_opml(file)
        result = add_feeds(path, [feed.entry() for feed in listing.feeds], dry_run=dry_run)
    except MonitorError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json(
            {
                "file": str(file),
                "config": str(path),
                "dry_run": dry_run,
                "added": list(result.added),
                "skipped": [{"entry": e, "reason": r} for e, r in result.skipped],
                "invalid": list(listing.skipped),
            }
        )
    else:
        verb = "would add" if dry_run else "added"
        out.print(
            f"{verb} {plural(len(result.added), 'feed')} from {file} to {path}; {len(result.skipped)} already "
            f"configured, {len(listing.skipped)} invalid",
            highlight=False,
            soft_wrap=True,
        )
        for entry, reason in result.skipped:
            out.print(
                f"  skipped {entry['name']} ({entry['url']}): {reason}", highlight=False, soft_wrap=True
            )
    for problem in listing.skipped:
        err.print(styled("[yellow]skipped:[/] {}", problem), soft_wrap=True)
    if not listing.feeds:
        err.print(
            styled("[red]error:[/] {}: no feeds in it (no <outline> with an xmlUrl)", file), soft_wrap=True
        )
        raise typer.Exit(code=1)


@export_app.command("opml")
def export_opml(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Write the configured feeds as OPML (tags as folders)."""
    from monitor.ingest.opml import write_opml

    try:
        config = state_of(ctx).config()
    except MonitorError as exc:
        raise fail(exc) from exc
    feeds, hidden = _without_environment_values(config)
    data = write_opml(feeds)
    if hidden:
        err.print(
            f"{plural(hidden, 'feed address', 'feed addresses')} written with ${{NAME}} in place of values "
            "from the environment (a list is for sharing)",
            highlight=False,
            soft_wrap=True,
        )
    if output is None:
        sys.stdout.write(data.decode("utf-8"))
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise fail(MonitorError(f"{output}: cannot write: {exc.strerror or exc}")) from exc
    err.print(f"wrote {len(config.feeds)} feeds to {output}", highlight=False, soft_wrap=True)


def _without_environment_values(config: Config) -> tuple[list, int]:
    """The configured feeds with each value a feed's URL took from the environment written back as the
    ``${NAME}`` it came from (an API key in a query), and how many URLs held one: ``check`` and the logs hide
    them, and an exported list, made to be shared, showed them in clear."""
    feeds, hidden = [], 0
    for index, feed in enumerate(config.feeds):
        # The URL as written, not the expanded one with each variable's value replaced back: a value
        # found elsewhere in the URL ("news" in the host) was replaced there too, and a variable whose
        # value is part of another's (a version "2" inside a key) left the rest of the key in clear.
        template = config.env_template(("feeds", index, "url"))
        url = feed.url if template is None else template.replace("$$", "$")
        hidden += url != feed.url
        feeds.append(feed if url == feed.url else feed.model_copy(update={"url": url}))
    return feeds, hidden
