"""Ingest commands: check, db, poll, feeds, articles, run."""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
import re
import signal
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from monitor import __version__
from monitor.cli import (
    MAX_LIMIT,
    JsonOption,
    app,
    database_or_exit,
    db_app,
    err,
    fail,
    out,
    parse_since_option,
    prepare_schema,
    print_json,
    state_of,
    when,
)
from monitor.cli.output import styled
from monitor.config import Config, redacted_dump
from monitor.config.durations import format_duration
from monitor.digest.notify.readiness import channel_readiness
from monitor.errors import MonitorError
from monitor.ingest.fetch import default_user_agent
from monitor.runtime.logs import set_level
from monitor.schedule import (
    RHYTHM_WINDOW,
    SILENCE_PUBLICATIONS,
    SILENCE_READ_SINCE,
    Rhythm,
    Silence,
    describe_pace,
    learned_rhythm,
    silence,
)
from monitor.store.db import sole_daemon
from monitor.store.records import WITHOUT_PAGE_TEXT, body_origin
from monitor.store.schema import migrate as migrate_schema
from monitor.store.schema import require_current


@app.command()
def check(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Validate the configuration and print it as it takes effect (secrets hidden)."""
    state = state_of(ctx)
    try:
        config = state.config()
    except MonitorError as exc:
        raise fail(exc) from exc
    dump = redacted_dump(config)
    if config.watchlist.file is not None:
        # The topics in force are the file's: "topics: []" read as a watchlist of none.
        from monitor.watchlist.model import watchlist_section

        in_file = watchlist_section(config).model_dump(mode="json")
        dump["watchlist"] |= {key: in_file[key] for key in ("aliases", "topics")}
    # Show what takes effect, not what was left out: per-feed values fall back to the settings.
    for feed, shown in zip(config.feeds, dump["feeds"]):
        fixed = config.fixed_interval_for(feed)
        shown["interval"] = format_duration(fixed) if fixed else "adaptive"
        shown["fetch_pages"] = config.fetch_pages_for(feed)
    if not config.settings.user_agent:
        dump["settings"]["user_agent"] = default_user_agent(config.settings.contact)
    channels = channel_readiness(config)
    if as_json:
        print_json({**dump, "channels": [channel.as_json() for channel in channels]})
        return
    import yaml

    out.print(styled("[green]ok[/]: {} is valid ({} feeds)", state.config_path, len(config.feeds)))
    for shown in dump["digests"]:
        if not shown.get("topics"):
            shown["topics"] = "all"  # an empty list is every topic: said so, not shown as none
    out.print(
        yaml.safe_dump(dump, sort_keys=False, allow_unicode=True).rstrip(), highlight=False, markup=False
    )
    if config.digests:
        out.print(
            "\n# digest channels: which will send, which will be skipped and why",
            highlight=False,
            markup=False,
        )
    for digest in config.digests:
        mine = [channel for channel in channels if channel.digest == digest.name]
        out.print(styled("digest {}:", digest.name))
        for channel in mine:
            out.print(styled("  {}", channel.line()))
        if not mine:
            out.print("  no channels: nothing will be sent", highlight=False, markup=False)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the database or bring its schema up to date; then write the configured feeds into it."""
    from monitor.store.feeds import sync_feeds

    state = state_of(ctx)
    try:
        # The feeds come from feeds.yaml when there is one; a database may be upgraded without it, but not
        # without a file named on purpose (a typo upgraded another database, and wrote no feeds).
        config = state.config() if state.config_path.exists() or state.config_given else None
        db = state.database(check=False)
    except MonitorError as exc:
        raise fail(exc) from exc
    try:
        before, after = migrate_schema(db)
        if config is not None:
            with db.write_session() as session:
                sync_feeds(session, feeds=config.feeds, now=datetime.now(UTC))
    except MonitorError as exc:
        raise fail(exc) from exc
    finally:
        db.dispose()
    if before == after:
        out.print(f"{db.describe()}: already at revision {after}", highlight=False)
    else:
        out.print(f"{db.describe()}: upgraded {before or 'empty'} -> {after}", highlight=False)
    if config is not None:
        out.print(f"{len(config.feeds)} feeds of {state.config_path} written", highlight=False)


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the database's schema revision and the latest one this version knows."""
    try:
        db = state_of(ctx).database(check=False)
        schema = require_current(db, behind_ok=True)  # a missing or newer database is an error here too
        out.print(f"current: {schema.current or 'empty'}  latest: {schema.head}", highlight=False)
        db.dispose()
    except MonitorError as exc:
        raise fail(exc) from exc


@app.command()
def poll(
    ctx: typer.Context,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", "-f", help="Poll only this feed (repeatable).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Poll every feed once, now, and print what happened."""
    from monitor.pipeline import Outcome, Pipeline

    state = state_of(ctx)
    try:
        config = state.config()
        for name in feed or ():
            config.feed(name)
        db = state.database()
    except MonitorError as exc:
        raise fail(exc) from exc

    progress = Progress(
        TextColumn("polling"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )

    async def run() -> list:
        async with Pipeline(config, db) as pipeline:
            pipeline.sync_feeds()
            task = progress.add_task("", total=None)
            return await pipeline.poll(
                names=feed or None,
                due_only=False,
                on_claimed=lambda n: progress.update(task, total=n),
                on_report=lambda r: progress.update(
                    task, advance=r.outcome is not Outcome.HELD, description=r.feed
                ),
            )

    with progress:
        reports = asyncio.run(run())
    db.dispose()
    if as_json:
        print_json([report.__dict__ for report in reports])
    else:
        _print_poll_summary(reports)
    if not polled_anything(reports):
        raise typer.Exit(code=1)


def polled_anything(reports: list) -> bool:
    """Whether a pass did its job: some feed asked for was polled with success, or none could be (every
    one is gone or held by its server's Retry-After, which the report shows). A pass where every feed
    failed, or was left alone because another instance holds it, did not."""
    from monitor.pipeline import LEASED, Outcome

    if any(r.outcome in (Outcome.OK, Outcome.UNCHANGED) for r in reports):
        return True
    return all(r.outcome is Outcome.HELD and r.error_kind != LEASED for r in reports)


def _print_poll_summary(reports: list) -> None:
    from monitor.pipeline import Outcome

    table = Table(title="Poll", title_justify="left")
    for column in ("feed", "result", "status", "new", "time", "detail"):
        table.add_column(column, justify="right" if column in ("status", "new", "time") else "left")
    colours = {Outcome.OK: "green", Outcome.UNCHANGED: "dim", Outcome.FAILED: "red", Outcome.HELD: "yellow"}
    for r in sorted(reports, key=lambda r: r.feed.casefold()):
        detail = f"{r.error_kind}: {r.error}" if r.error else (r.warning or "")
        if r.linked:
            detail = f"{r.linked} already stored from other feeds" + (f"; {detail}" if detail else "")
        table.add_row(
            r.feed,
            Text(str(r.outcome), colours[r.outcome]),
            str(r.status or "-"),
            str(r.new_articles),
            f"{r.duration:.1f}s",
            detail,
        )
    out.print(table)
    counts = {outcome: sum(1 for r in reports if r.outcome is outcome) for outcome in Outcome}
    out.print(
        f"{counts[Outcome.OK]} ok, {counts[Outcome.UNCHANGED]} unchanged, {counts[Outcome.FAILED]} failed, "
        f"{counts[Outcome.HELD]} held; {sum(r.new_articles for r in reports)} new articles",
        highlight=False,
    )
    # A full disk fails every feed alike: its advice is said once, under the table.
    for hint in dict.fromkeys(r.hint for r in reports if r.hint):
        err.print(styled("[yellow]hint:[/] {}", hint))


@app.command()
def feeds(
    ctx: typer.Context,
    as_json: JsonOption = False,
    move_redirected: Annotated[
        bool,
        typer.Option(
            "--move-redirected",
            help="write the new address of every feed that redirects for good (301/308) into feeds.yaml, "
            "over its old one, and show what changed",
        ),
    ] = False,
    problems: Annotated[
        bool,
        typer.Option(
            "--problems",
            help="only the feeds that need a look: failing, gone, silent, moved, listing the same news as "
            "another, or whose pages came without their text this week",
        ),
    ] = False,
) -> None:
    """Show every feed's state: its rhythm, last success, last error, next poll, article count."""
    from monitor.store.feeds import decode_spells, feed_statuses
    from monitor.store.sightings import (
        bodies_since,
        latest_sightings,
        news_delays_since,
        shared_since,
        sightings_since,
    )
    from monitor.store.websub import all_subscriptions

    # Only reads: the feeds are written by the daemon, `poll` and `db upgrade`, each from its configuration.
    db = database_or_exit(ctx)
    now = datetime.now(UTC)
    if move_redirected:  # the feeds' states alone: nothing of their rhythm or articles is needed
        with db.session() as session:
            moved = [s.feed for s in feed_statuses(session) if s.feed.enabled and s.feed.moved_to]
        db.dispose()
        _move_redirected(ctx, moved, as_json=as_json)
        return
    with db.session() as session:
        statuses = feed_statuses(session)
        feed_ids = [s.feed.id for s in statuses]
        sightings = sightings_since(session, feed_ids=feed_ids, since=now - RHYTHM_WINDOW)
        # The daemon judges which feeds went silent, at their polls; of those, the pace they had is read here
        # from their latest sightings, however old (unknown once retention pruned them).
        silent = {s.feed.id: s.feed.created_at for s in statuses if s.feed.silent_since is not None}
        lookback = latest_sightings(
            session, feed_ids=list(silent), since=SILENCE_READ_SINCE, most=SILENCE_PUBLICATIONS
        )
        paces = {
            feed_id: silence(lookback.get(feed_id, []), now=now, watched_since=watched_since)
            for feed_id, watched_since in silent.items()
        }
        delays = news_delays_since(session, feed_ids=feed_ids, since=now - RHYTHM_WINDOW)
        bodies = bodies_since(session, feed_ids=feed_ids, since=now - RHYTHM_WINDOW)
        shared = shared_since(session, feed_ids=feed_ids, since=now - RHYTHM_WINDOW)
        watched_names = {s.feed.id: s.feed.name for s in statuses if s.feed.enabled}
        unwatched = {s.feed.id: decode_spells(s.feed.unwatched) for s in statuses}
        rhythms = _rhythms(state_of(ctx), statuses, sightings, unwatched, now)
        pushed = {subscription.feed_id: subscription for subscription in all_subscriptions(session)}
        rows = [
            _feed_row(
                s.feed,
                s.article_count,
                rhythms[s.feed.id],
                pushed.get(s.feed.id),
                [spell for spell in unwatched[s.feed.id] if spell[1] > now - RHYTHM_WINDOW],
                paces.get(s.feed.id),
                delays.get(s.feed.id, []),
                bodies.get(s.feed.id, []),
                _same_news(len(bodies.get(s.feed.id, [])), shared.get(s.feed.id, {}), watched_names),
            )
            for s in statuses
        ]
    db.dispose()
    watched = sum(row["enabled"] for row in rows)
    if problems:
        rows = [row for row in rows if _needs_a_look(row)]
    if as_json:
        print_json(rows)
        return
    title = f"Feeds needing a look ({len(rows)} of {watched})" if problems else f"Feeds ({len(rows)})"
    table = Table(title=title, title_justify="left")
    # On a narrow terminal a state's first words stay together ("gone (410):") and the rhythm takes two lines.
    min_widths, max_widths = {"state": 11}, {"rhythm": 11}
    for column in ("feed", "state", "articles", "rhythm", "last success", "next poll", "last error"):
        table.add_column(
            column,
            justify="right" if column == "articles" else "left",
            min_width=min_widths.get(column),
            max_width=max_widths.get(column),
        )
    for row in rows:
        if not row["enabled"]:
            state_text = styled("[dim]removed[/]")
        elif row["gone_at"]:
            state_text = styled("[red]gone (410): not polled[/]")
        elif row["last_error_kind"]:
            state_text = styled("[red]failing x{}[/]", row["consecutive_failures"])
        elif row["last_success_at"] and row["silent_since"]:
            # It answers, but lists nothing new: what it used to publish is said, so the silence is weighed.
            was = row["silent_was_per_day"]  # unknown once its publications are out of the lookback
            state_text = styled(
                "[yellow]silent since {}[/]" + (" (was {})" if was is not None else ""),
                when(row["silent_since"], now),
                *([describe_pace(was)] if was is not None else []),
            )
        elif row["last_success_at"]:
            state_text = styled(
                "[green]ok[/]"
                + (" [yellow](warning)[/]" if row["last_warning"] else "")
                + (" [yellow](moved)[/]" if row["moved_to"] else "")
            )
        else:
            state_text = Text("new")
        error = _attention(row, now)
        polled = row["enabled"] and not row["gone_at"]
        rhythm = row["rhythm"] + _pushed(row["websub"]) + _found_in(row["news_delay_median"])
        table.add_row(
            row["name"],
            state_text,
            str(row["articles"]),
            rhythm if polled else "-",
            when(row["last_success_at"], now),
            when(row["next_poll_at"], now) if polled else "-",
            error,
        )
    out.print(table)


SAME_NEWS_SHARE = 0.9
"""A feed whose week of articles another feed lists too, this share of them or more, lists the same news."""
SAME_NEWS_MIN = 5
"""... of at least this many articles: two feeds sharing their only two articles are no mirror."""


def _same_news(articles: int, shared: dict[int, int], names: dict[int, str]) -> dict | None:
    """The configured feed that lists (nearly) every article of a feed's week too, if any: the same news
    polled twice (an address and its mirror, http and https, a proxy service's copy), as ``monitor feeds``
    says it."""
    if articles < SAME_NEWS_MIN:
        return None
    found = [(count, names[other]) for other, count in shared.items() if other in names]
    if not found:
        return None
    count, name = max(found)
    return (
        {"feed": name, "shared": count, "articles": articles} if count >= SAME_NEWS_SHARE * articles else None
    )


def _attention(row: dict, now: datetime) -> str | Text:
    """What the feeds table's error column says of a feed: its last error, else the first thing about it
    that needs a look (a move, a mirror, pages without their text), else nothing."""
    if row["last_error_kind"]:
        return f"{row['last_error_kind']}: {row['last_error']}"
    if row["moved_to"]:
        # It answers through a permanent redirect: the old address may stop answering any day.
        return styled(
            "[yellow]moved for good to {} ({}): monitor feeds --move-redirected[/]",
            row["moved_to"],
            when(row["moved_since"], now),
        )
    if same := row["same_news_as"]:  # polled twice for one news: one of the two can go
        return styled(
            "[yellow]same news as {} ({} of {} this week)[/]", same["feed"], same["shared"], same["articles"]
        )
    pages = row["pages"]
    if pages["without_text"]:
        # The feed answers, but its pages do not give their text (a site that blocks, a paywall, a layout
        # extraction no longer reads): its news comes as the feed's summaries. Said, to be seen.
        reason = max(pages["reasons"], key=pages["reasons"].get)
        return styled(
            "[yellow]pages: {} of {} this week without their text ({})[/]",
            pages["without_text"],
            pages["articles"],
            reason,
        )
    return ""


def _needs_a_look(row: dict) -> bool:
    """A configured feed whose news is not reaching its readers as it should (``monitor feeds --problems``):
    failing, gone, silent, moved for good, listing the same news as another, or its pages without their text
    this week."""
    return row["enabled"] and bool(
        row["gone_at"]
        or row["last_error_kind"]
        or row["silent_since"]
        or row["moved_to"]
        or row["same_news_as"]
        or row["pages"]["without_text"]
    )


def _move_redirected(ctx: typer.Context, moved: list, *, as_json: bool) -> None:
    """``monitor feeds --move-redirected``: each configured feed that redirects for good (``moved``, their
    rows) gets its new address in feeds.yaml (the daemon applies the change as it applies any edit of the
    file)."""
    from monitor.config.edit import Move, move_feeds

    path = state_of(ctx).config_path
    moves = [Move(feed.name, feed.url, feed.moved_to) for feed in moved]
    if not moves:
        if as_json:
            print_json({"moved": [], "skipped": []})
        else:
            out.print("no feed redirects for good", highlight=False)
        return
    try:
        result = move_feeds(path, moves)
    except MonitorError as exc:
        raise fail(exc) from exc
    if as_json:
        print_json(
            {
                "moved": [move.__dict__ for move in result.moved],
                "skipped": [{**move.__dict__, "reason": reason} for move, reason in result.skipped],
            }
        )
    else:
        for move in result.moved:
            out.print(f"moved {move.name}: {move.old} -> {move.new}", highlight=False, soft_wrap=True)
        for move, reason in result.skipped:
            err.print(f"skipped {move.name}: {reason}", highlight=False, soft_wrap=True)
        if result.moved:
            out.print(f"written to {path}", highlight=False, soft_wrap=True)
    if result.skipped:
        raise typer.Exit(code=1)


def _rhythms(state, statuses, sightings, unwatched, now: datetime) -> dict[int, Rhythm]:
    """Each feed's rhythm as the daemon reckons it: a fixed interval from the configuration, else what its
    week of publications earns, the time it was not watched left out (the configuration's bounds; the
    defaults when it cannot be read)."""
    try:
        config = state.config()
    except MonitorError as error:
        # Said, not hidden: a feed's own interval and the bounds are in the file, and a table reckoned on
        # the defaults without a word showed a feed polled every minute as "every 10m".
        err.print(
            styled(
                "[yellow]warning:[/] {} cannot be read ({}): rhythms are reckoned on the default settings, "
                "without the feeds' own intervals",
                str(state.config_path),
                str(error).splitlines()[0] if str(error) else type(error).__name__,
            ),
            soft_wrap=True,
        )
        config = Config()
    configured = {feed.name: feed for feed in config.feeds}
    rhythms = {}
    for status in statuses:
        source = configured.get(status.feed.name)
        fixed = config.fixed_interval_for(source) if source else None
        rhythms[status.feed.id] = (
            Rhythm(fixed)
            if fixed
            else learned_rhythm(
                sightings.get(status.feed.id, []),
                now=now,
                min_interval=config.settings.min_interval,
                max_interval=config.settings.max_interval,
                watched_since=status.feed.created_at,
                unwatched=unwatched.get(status.feed.id, ()),
            )
        )
    return rhythms


def _pushed(websub: dict | None) -> str:
    """What the feeds table says of a feed's WebSub subscription: pushed, or polled again at its own rhythm
    because polls found news its hub had not pushed (``Subscription.trusted``)."""
    if not websub or websub["state"] != "active":
        return ""
    return ", pushed" if websub["trusted"] else ", hub missed news"


def _found_in(seconds: float | None) -> str:
    """What the feeds table says of a feed's freshness: the median time from publication to storage."""
    if seconds is None:
        return ""
    if seconds < 90:
        return f", found in ~{seconds:.0f}s"
    return f", found in ~{format_duration(timedelta(minutes=round(seconds / 60)))}"


def _pages(bodies: list[tuple[str, str | None]]) -> dict:
    """Of a feed's articles (body source, note), those whose page did not give their text (the feed's own
    text stands in, or nothing), by reason: the note's words before its details, numbers folded."""
    reasons: Counter[str] = Counter()
    for source, note in bodies:
        if body_origin(source, note) in WITHOUT_PAGE_TEXT:
            reasons[re.sub(r"\b\d+\b", "N", re.split(r"[:;]", note or "no text")[0]).strip()] += 1
    return {"articles": len(bodies), "without_text": sum(reasons.values()), "reasons": dict(reasons)}


def _feed_row(
    feed,
    article_count: int,
    rhythm: Rhythm,
    subscription,
    unwatched,
    pace: Silence | None,
    delays: list[int],
    bodies: list[tuple[str, str | None]],
    same_news: dict | None = None,
) -> dict:
    websub = (
        None
        if subscription is None
        else {
            "state": subscription.state,
            "hub": subscription.hub,
            "topic": subscription.topic,
            "lease_until": subscription.lease_until,
            "last_push_at": subscription.last_push_at,
            "pushes": subscription.pushes,
            "missed_at": subscription.missed_at,
            "missed": subscription.missed,
            "trusted": subscription.trusted,
            "error": subscription.error,
        }
    )
    return {
        "name": feed.name,
        "url": feed.url,
        "kind": feed.kind,
        "enabled": feed.enabled,
        "title": feed.title,
        "articles": article_count,
        # A feed never read has no rhythm yet: "quiet" would say it publishes nothing.
        "rhythm": rhythm.describe() if feed.last_success_at or rhythm.per_day is None else "not read yet",
        "publications_per_day": rhythm.per_day,
        "poll_interval": format_duration(rhythm.interval),
        # When the daemon was away within the rhythm's window and the feed's listing could not show it all.
        "unwatched": [{"from": start, "until": end} for start, end in unwatched],
        # A feed that answers but has listed nothing new for longer than its pace allows (monitor.schedule).
        "silent_since": feed.silent_since,
        "silent_was_per_day": pace.per_day if pace else None,
        # Over the week: the median time from an entry's publication to its storage, where that is the
        # daemon's doing (monitor.schedule.news_delay), and how many entries it is taken over.
        "news_delay_median": statistics.median(delays) if delays else None,
        "news_delays": len(delays),
        # Over the week: how many of the articles it listed have no text of their page, and why.
        "pages": _pages(bodies),
        "same_news_as": same_news,
        "last_polled_at": feed.last_polled_at,
        "last_success_at": feed.last_success_at,
        "last_status": feed.last_status,
        "last_error": feed.last_error,
        "last_error_kind": feed.last_error_kind,
        "last_warning": feed.last_warning,
        "consecutive_failures": feed.consecutive_failures,
        "next_poll_at": feed.next_poll_at,
        "retry_after_until": feed.retry_after_until,
        "gone_at": feed.gone_at,
        "moved_to": feed.moved_to,
        "moved_since": feed.moved_since,
        "etag": feed.etag,
        "last_modified": feed.last_modified,
        "websub": websub,
    }


@app.command()
def articles(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Only articles stored since, e.g. 2d, 6h, 2024-09-01.")
    ] = None,
    feed: Annotated[str | None, typer.Option("--feed", "-f", help="Only articles from this feed.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (0: no limit).", min=0, max=MAX_LIMIT)] = 100,
    as_json: JsonOption = False,
) -> None:
    """List stored articles, the last stored first."""
    from monitor.store import feeds as feed_store
    from monitor.store.articles import list_articles

    since_at = parse_since_option(since)
    db = database_or_exit(ctx)
    with db.session() as session:
        known = feed_store.feed_names(session) if feed is not None else []
        rows = [
            _article_row(a)
            for a in list_articles(session, since=since_at, feed_name=feed, limit=limit or None)
        ]
    db.dispose()
    if feed is not None and feed not in known:
        # A mistyped name listed nothing and looked like a feed with no articles.
        close = difflib.get_close_matches(feed, known, n=3)
        raise fail(
            MonitorError(
                f"no feed named {feed!r} in the database",
                hint=(f"did you mean {', '.join(map(repr, close))}? " if close else "")
                + "monitor feeds lists them",
            )
        )
    if as_json:
        print_json(rows)
        return
    # In the order they were stored (what --since counts from), which is not always that of their dates: a
    # feed lists a backdated entry, or an outlet's late copy of older news. Both times are shown.
    table = Table(title=f"Articles ({len(rows)}), the last stored first", title_justify="left")
    for column in ("stored", "published", "feeds", "title", "body", "url"):
        table.add_column(
            column,
            overflow="fold" if column in ("url", "title") else "ellipsis",
            max_width=60 if column == "title" else None,
            min_width=20 if column == "title" else None,  # the title before the URL on a narrow terminal
        )
    # Two times take room from the titles: the year only when some time is not of this one.
    times = [t for row in rows for t in (row["fetched_at"], row["published_at"]) if t is not None]
    this_year = datetime.now(UTC).year
    shape = "%m-%d %H:%M" if all(t.year == this_year for t in times) else "%Y-%m-%d %H:%M"
    for row in rows:
        published = row["published_at"]
        body = f"{row['body_source']} {len(row['body'])}c"
        table.add_row(
            f"{row['fetched_at']:{shape}}",
            f"{published:{shape}}" if published else "-",
            ", ".join(row["feeds"]),
            row["title"] or "-",
            body,
            row["url"],
        )
    out.print(table)


def _article_row(article) -> dict:
    return {
        "id": article.id,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "guid": article.guid,
        "title": article.title,
        "author": article.author,
        "published_at": article.published_at,
        "fetched_at": article.fetched_at,
        "language": article.language,
        "feeds": sorted({link.feed.name for link in article.feeds}),
        "body_source": article.body_source,
        "body_note": article.body_note,
        "content_hash": article.content_hash,
        "summary": article.summary,
        "body": article.body,
        "wire_cluster_id": article.wire_cluster_id,
        "story_id": article.story_id,
        "agency": article.agency,
        "revisions": article.revisions,
        "page_retries": article.page_retries,
        "page_retry_at": article.page_retry_at,
    }


@app.command()
def run(
    ctx: typer.Context,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            envvar="MONITOR_LISTEN",
            metavar="HOST:PORT",
            show_default=False,
            help="Serve /healthz and /metrics here, e.g. 127.0.0.1:9100 (default: settings.listen; none).",
        ),
    ] = None,
    no_migrate: Annotated[
        bool,
        typer.Option("--no-migrate", help="Do not migrate the database on start; refuse one that is behind."),
    ] = False,
) -> None:
    """Run the daemon: poll each feed when it is due, until SIGTERM or SIGINT."""
    from monitor.config import configured_listen, listen_address
    from monitor.daemon.scheduler import run_daemon

    state = state_of(ctx)
    try:
        address = listen_address(listen) if listen else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--listen") from exc
    if not logging.getLogger().isEnabledFor(logging.INFO):
        # One line per poll is the daemon's log (the libraries' own chatter stays off unless -vv).
        set_level(logging.INFO)
    # A reload (`systemctl reload`) while the daemon starts must not kill it; the daemon handles it once running.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        config = state.config()
        db = state.database(check=False)  # its schema is seen to once the file is this daemon's alone
    except MonitorError as exc:
        raise fail(exc) from exc
    given = address is not None
    configured = configured_listen(config.settings)
    if given and configured is not None and configured != address:
        logging.getLogger("monitor").warning(
            "serving /healthz and /metrics where --listen or MONITOR_LISTEN says; settings.listen (%s) is "
            "not used",
            config.settings.listen,
        )
    if address is None:
        address = configured
    try:
        with sole_daemon(db):
            # Migrated once no other daemon runs on the file: a new version started beside the running one
            # upgraded the schema under it, then was refused.
            prepare_schema(db, migrate=not no_migrate, check=True)
            logging.getLogger("monitor").info(
                "monitor %s starting: %d feeds, database %s (pid %d)",
                __version__,
                len(config.feeds),
                db.describe(),
                os.getpid(),
            )
            asyncio.run(run_daemon(config, db, listen=address, listen_given=given))
    except MonitorError as exc:
        raise fail(exc) from exc
    finally:
        db.dispose()
