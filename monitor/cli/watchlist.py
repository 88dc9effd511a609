"""Watchlist commands: match, matches, watchlist test, watchlist backtest, retag."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table
from rich.text import Text

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
)
from monitor.cli.output import styled
from monitor.errors import MonitorError
from monitor.watchlist import ArticleText, Match, Watchlist, load_watchlist

watchlist_app = typer.Typer(help="Check and try out the watchlist before it goes live.", no_args_is_help=True)
app.add_typer(watchlist_app, name="watchlist")

SinceOption = Annotated[str | None, typer.Option(help="Only articles stored since, e.g. 30d, 2024-09-01.")]


def _watchlist(ctx: typer.Context) -> Watchlist:
    try:
        return load_watchlist(state_of(ctx).config())
    except MonitorError as exc:
        raise fail(exc) from exc


# --- monitor match --------------------------------------------------------------------------------------


@app.command()
def match(
    ctx: typer.Context,
    text: Annotated[
        str | None, typer.Option("--text", "-t", help="Match this text (as an article's body).")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", "-u", help="Match a stored article, else fetch the page.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Match a text or HTML file ('-': stdin).")
    ] = None,
    title: Annotated[str, typer.Option(help="A title to match with --text or --file.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Show the topics an article matches, and why: clauses, terms, positions, a highlighted snippet."""
    if sum(x is not None for x in (text, url, file)) != 1:
        raise typer.BadParameter("give exactly one of --text, --url and --file")
    watchlist = _watchlist(ctx)
    if text is not None:
        article = ArticleText(title=title, body=text)
    elif file is not None:
        article = _from_file(file, title)
    else:
        assert url is not None  # exactly one of the three was given, checked above
        article = _from_url(ctx, url)
    matches = watchlist.match(article)
    if as_json:
        print_json([m.to_json() for m in matches])
    else:
        if not matches:
            out.print(f"no topic matches ({len(watchlist.topics)} topics)", highlight=False)
        for found in matches:
            print_match(found)
    if not matches:
        raise typer.Exit(code=1)


MAX_ARTICLE_FILE_BYTES = 10 * 1024 * 1024  # `match --file`: as much as a page download may hold by default


def _from_file(path: Path, title: str) -> ArticleText:
    import sys

    from monitor.config.boundedread import FileTooLarge, read_bounded
    from monitor.ingest.extract import extract_page

    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(MAX_ARTICLE_FILE_BYTES + 1)
            if len(data) > MAX_ARTICLE_FILE_BYTES:
                raise FileTooLarge(path, MAX_ARTICLE_FILE_BYTES)
        else:
            data = read_bounded(path, MAX_ARTICLE_FILE_BYTES)
    except OSError as exc:
        raise fail(MonitorError(f"cannot read {path}: {exc.strerror or exc}", hint="check the path")) from exc
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        page = extract_page(data, "file:///" + path.name)
        if page is None:
            raise fail(
                MonitorError(f"no main text found in {path}", hint="save the article's text and use it")
            )
        return ArticleText(title or page.title or "", page.text, "", page.language or "")
    return ArticleText(title, data.decode("utf-8", errors="replace"))


def _from_url(ctx: typer.Context, url: str) -> ArticleText:
    from monitor.ingest.urls import lookup_forms
    from monitor.store.matches import find_article

    state = state_of(ctx)
    written, canonical = lookup_forms(url)
    try:
        db = state.database()
        with db.session() as session:
            stored = find_article(session, url=written, canonical=canonical)
        db.dispose()
    except MonitorError as exc:
        raise fail(exc) from exc
    if stored is not None:
        return stored.text
    return asyncio.run(_fetch(state.config(), url))


async def _fetch(config, url: str) -> ArticleText:
    """The page at ``url``, fetched and extracted as the pipeline would (for a page not stored yet)."""
    from monitor.ingest.extract import extract_page
    from monitor.ingest.fetch import PAGE_ACCEPT
    from monitor.ingest.fetchtools import fetcher_for

    async with fetcher_for(config.settings) as fetcher:
        result = await fetcher.fetch(url, accept=PAGE_ACCEPT)
    if not result.ok:
        problem = result.failure.message if result.failure else f"HTTP {result.status}"
        raise fail(MonitorError(f"cannot fetch {url}: {problem}", hint="is the URL right and the site up?"))
    page = await asyncio.to_thread(
        extract_page, result.body, result.final_url, result.headers.get("content-type", "")
    )
    if page is None:
        raise fail(MonitorError(f"no main text found at {url}", hint="try --text with the article's text"))
    return ArticleText(page.title or "", page.text, result.final_url, page.language or "")


def print_match(found: Match, *, heading: str | None = None) -> None:
    """A match for people: topic and score, the clauses and terms that fired, the snippet highlighted."""
    evidence = found.evidence
    out.print(Text.assemble((heading or found.topic, "bold green"), f"  score {found.score:g}"))
    for clause in evidence.clauses:
        out.print(Text.assemble("  clause ", (clause, "cyan")))
    for term in evidence.terms:
        # Quoted as written, not by repr(): that escaped the ZWNJ inside Persian words (موشک\u200cها); the
        # console escapes what is unsafe on a terminal.
        places = ", ".join(
            f"{hit.field} word {hit.word} ('{' '.join(hit.text.split())}')" for hit in term.hits[:5]
        )
        more = f", +{term.count - 5} more" if term.count > 5 else ""
        weight = f" weight {term.weight:+g}" if term.weight is not None else ""
        out.print(
            Text.assemble("  term   ", (term.term, "yellow"), f" ×{term.count}{weight}: {places}{more}")
        )
    if evidence.snippet:
        snippet = Text(evidence.snippet)
        for start, end in evidence.highlights:
            snippet.stylize("bold reverse", start, end)
        out.print(Text.assemble(f"  {evidence.snippet_field}: ", snippet))


# --- monitor matches ------------------------------------------------------------------------------------


@app.command()
def matches(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Option(help="Only this topic.")] = None,
    since: SinceOption = None,
    limit: Annotated[int, typer.Option(help="At most this many (0: no limit).", min=0, max=MAX_LIMIT)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List stored matches, newest first, each with its evidence."""
    from monitor.store.matches import list_matches

    since_at = parse_since_option(since)
    db = database_or_exit(ctx)
    with db.session() as session:
        found = list_matches(session, topic=topic, since=since_at, limit=limit or None)
    db.dispose()
    matches = [Match.from_json(m.match_json) for m in found]
    if topic is not None:
        _say_if_not_in_force(ctx, topic, stored=len(found))
    if as_json:
        print_json(
            [
                {
                    "article_id": m.article_id,
                    "title": m.title,
                    "url": m.url,
                    "matched_at": m.matched_at,
                    "watchlist": m.watchlist,
                    **match.to_json(),
                }
                for m, match in zip(found, matches, strict=True)
            ]
        )
        return
    if not found:  # as the other listings do: silence read as a command that did nothing
        shown = "Matches (0)" + (f" of {topic}" if topic else "") + (f" since {since}" if since else "")
        out.print(shown, markup=False, highlight=False)
    for stored, match in zip(found, matches, strict=True):
        print_match(match, heading=f"{match.topic}: {stored.title or stored.url}")
        out.print(f"  {stored.url}  (matched {stored.matched_at:%Y-%m-%d %H:%M})", highlight=False)


def _say_if_not_in_force(ctx: typer.Context, topic: str, *, stored: int) -> None:
    """On stderr: a topic the watchlist in force does not have (a typo listed nothing and exited 0; a topic
    renamed or removed lists its old matches as if it were watched)."""
    try:
        names = [t.name for t in load_watchlist(state_of(ctx).config()).topics]
    except MonitorError:
        return  # the matches are listed without the file: `monitor check` says what is wrong with it
    if topic in names:
        return
    what = "these are matches stored before" if stored else "no match of it is stored"
    known = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    err.print(
        f"note: the watchlist has no topic {topic!r} ({what}); its topics: {known or 'none'}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


# --- monitor watchlist test -----------------------------------------------------------------------------


@watchlist_app.command("test")
def test_examples(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Run every topic's should_match and should_not_match examples; exit 1 if any fails (for CI)."""
    from monitor.watchlist.backtest import run_examples

    watchlist = _watchlist(ctx)
    needs_db = any(example.article is None for topic in watchlist.topics for example in topic.examples)
    if needs_db:
        db = database_or_exit(ctx)
        with db.session() as session:
            results = run_examples(watchlist, session=session)
        db.dispose()
    else:
        results = run_examples(watchlist)
    failed = [r for r in results if not r.passed]
    if as_json:
        print_json(
            [
                {
                    "topic": r.example.topic,
                    "expected": "match" if r.example.expected else "no match",
                    "example": r.example.label,
                    "url": r.example.url,
                    "passed": r.passed,
                    "detail": r.detail,
                }
                for r in results
            ]
        )
    else:
        for r in results:
            mark = "[green]pass[/]" if r.passed else "[bold red]FAIL[/]"
            expected = "should match" if r.example.expected else "should not match"
            out.print(styled(mark + " {}: {}: ", r.example.topic, expected), end="")
            out.print(
                Text(f"{r.example.url or r.example.label}" + ("" if r.passed else f"\n     {r.detail}"))
            )
        topics_without = [t.name for t in watchlist.topics if not t.examples]
        if topics_without:
            err.print(f"note: no examples for {', '.join(topics_without)}", highlight=False)
        out.print(
            f"{len(results) - len(failed)} passed, {len(failed)} failed ({len(watchlist.topics)} topics)",
            highlight=False,
        )
    if failed:
        raise typer.Exit(code=1)


# --- monitor watchlist backtest / monitor retag ---------------------------------------------------------


@watchlist_app.command()
def backtest(
    ctx: typer.Context,
    since: SinceOption = "30d",
    candidate: Annotated[
        Path | None,
        typer.Option(
            help="A watchlist to try (a feeds.yaml or a watchlist file), compared with the configured one. "
            "Without it, the configured watchlist is compared with the matches stored in the database."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show, per topic, how many stored articles an edited watchlist would match, gained and lost."""
    from monitor.watchlist.backtest import compare

    if candidate is not None:
        new, baseline, against = _load_candidate(candidate), _watchlist(ctx), "configured watchlist"
    else:
        new, baseline, against = _watchlist(ctx), None, "stored matches"
    _report_changes(
        ctx,
        lambda session: compare(session, new, since=parse_since_option(since), baseline=baseline),
        title=f"Backtest against the {against}",
        as_json=as_json,
    )


@app.command()
def retag(ctx: typer.Context, since: SinceOption = None, as_json: JsonOption = False) -> None:
    """Apply the configured watchlist to stored articles, replacing their matches; show what changed."""
    from monitor.watchlist.backtest import compare

    watchlist = _watchlist(ctx)
    _report_changes(
        ctx,
        lambda session: compare(session, watchlist, since=parse_since_option(since), write=True),
        title="Retag",
        as_json=as_json,
    )


def _report_changes(ctx: typer.Context, run, *, title: str, as_json: bool) -> None:
    db = database_or_exit(ctx)
    with db.session() as session:
        changes, articles = run(session)
    db.dispose()
    if as_json:
        print_json(
            {
                "articles": articles,
                "topics": [
                    {
                        "topic": c.topic,
                        "before": c.before,
                        "after": c.after,
                        "gained": c.gained,
                        "lost": c.lost,
                        "gained_examples": [e.__dict__ for e in c.gained_examples],
                        "lost_examples": [e.__dict__ for e in c.lost_examples],
                    }
                    for c in changes
                ],
            }
        )
        return
    table = Table(title=f"{title}: {articles} articles", title_justify="left")
    for column in ("topic", "before", "after", "gained", "lost"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for c in changes:
        table.add_row(
            c.topic,
            str(c.before),
            str(c.after),
            styled("[green]+{}[/]", c.gained) if c.gained else "0",
            styled("[red]-{}[/]", c.lost) if c.lost else "0",
        )
    out.print(table)
    for c in changes:
        for sign, examples in (("+", c.gained_examples), ("-", c.lost_examples)):
            for example in examples:
                out.print(Text(f"{sign} {c.topic}: {example.title or '(no title)'}  {example.url}"))


def _load_candidate(path: Path) -> Watchlist:
    """A watchlist from a feeds.yaml (its watchlist: section) or from a watchlist file (aliases:, topics:)."""
    from monitor.config import MAX_FILE_BYTES, Config, load_config
    from monitor.config.boundedread import read_bounded
    from monitor.watchlist.model import WatchlistConfig

    try:
        try:
            top = yaml.safe_load(read_bounded(path, MAX_FILE_BYTES))
        except (OSError, yaml.YAMLError, RecursionError):
            top = None  # load_config reports it, with its place
        if isinstance(top, dict) and ("watchlist" in top or "feeds" in top or "settings" in top):
            return load_watchlist(load_config(path))
        return load_watchlist(Config(watchlist=WatchlistConfig(file=str(path.resolve()))))
    except MonitorError as exc:
        raise fail(exc) from exc
