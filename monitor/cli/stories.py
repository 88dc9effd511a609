"""Deduplication commands: ``stories`` (stories with their wire clusters, outlets and agencies),
``explain URL`` (why an article joined its cluster and story) and ``regroup`` (split the window's stories
where their write-ups' neighbourhoods say two events)."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

import typer
from rich.table import Table

from monitor.cli import (
    MAX_LIMIT,
    JsonOption,
    app,
    database_or_exit,
    fail,
    out,
    parse_since_option,
    print_json,
    state_of,
)
from monitor.cli.output import styled
from monitor.errors import MonitorError


def outlet(url: str) -> str:
    """The publisher of an article, as digests count them: its registered domain."""
    from monitor.dedupe.outlets import outlet_domain

    return outlet_domain(url)


@app.command()
def stories(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Only stories active since, e.g. 2d, 6h, 2024-09-01.")
    ] = None,
    limit: Annotated[
        int, typer.Option(help="At most this many stories (0: no limit).", min=0, max=MAX_LIMIT)
    ] = 50,
    as_json: JsonOption = False,
) -> None:
    """List stories, most recently active first, with their wire clusters, outlets and agencies."""
    from monitor.store import stories as stories_store

    since_at = parse_since_option(since)
    db = database_or_exit(ctx)
    with db.session() as session:
        found = stories_store.list_stories(session, since=since_at, limit=limit or None)
        members = stories_store.story_articles(session, story_ids=[s.id for s in found])
        clusters = stories_store.clusters_by_id(
            session, ids=sorted({a.wire_cluster_id for a in members if a.wire_cluster_id is not None})
        )
        rows = _story_rows(found, members, clusters)
    db.dispose()
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Stories ({len(rows)})", title_justify="left")
    for column in ("story", "last seen", "title", "articles", "texts", "outlets", "agencies"):
        table.add_column(
            column,
            justify="right" if column in ("story", "articles", "texts") else "left",
            max_width=60 if column == "title" else None,
            # A title in Chinese or Japanese has no spaces to wrap at: folded, not cut to its first characters.
            overflow="fold" if column == "title" else "ellipsis",
        )
    for row in rows:
        outlets = row["outlets"]
        table.add_row(
            str(row["id"]),
            f"{row['last_seen_at']:%Y-%m-%d %H:%M}",
            row["title"] or "-",
            str(row["articles"]),
            str(len(row["clusters"])),
            f"{len(outlets)}: " + ", ".join(outlets[:4]) + (", ..." if len(outlets) > 4 else ""),
            ", ".join(row["agencies"]) or "-",
        )
    out.print(table)
    out.print(styled("[dim]texts: distinct wire clusters (a wire story and its copies count once)[/]"))


def _story_rows(found, members, clusters) -> list[dict]:
    by_story: dict[int, dict[int | None, list]] = defaultdict(lambda: defaultdict(list))
    for article in members:
        by_story[article.story_id][article.wire_cluster_id].append(article)
    rows = []
    for story in found:
        cluster_rows = []
        for cluster_id, articles in sorted(
            by_story[story.id].items(), key=lambda kv: (-len(kv[1]), kv[0] or 0)
        ):
            cluster = clusters.get(cluster_id)
            representative = cluster.representative_id if cluster else None
            cluster_rows.append(
                {
                    "id": cluster_id,
                    "size": len(articles),
                    "agency": cluster.agency if cluster else None,
                    "representative_id": representative,
                    "outlets": sorted({outlet(a.url) for a in articles}),
                    "articles": [
                        {
                            "id": a.id,
                            "url": a.url,
                            "title": a.title,
                            "published_at": a.published_at,
                            "agency": a.agency,
                            "feeds": sorted({link.feed.name for link in a.feeds}),
                            "representative": a.id == representative,
                        }
                        for a in articles
                    ],
                }
            )
        all_articles = [a for c in by_story[story.id].values() for a in c]
        # Shown by its largest wire cluster's representative: the text most outlets carried.
        lead = cluster_rows[0]["representative_id"] if cluster_rows else None
        title = next((a.title for a in all_articles if a.id == lead and a.title), None) or story.title
        rows.append(
            {
                "id": story.id,
                "title": title,
                "first_seen_at": story.first_seen_at,
                "last_seen_at": story.last_seen_at,
                "articles": len(all_articles),
                "outlets": sorted({outlet(a.url) for a in all_articles}),
                "agencies": sorted({a.agency for a in all_articles if a.agency}),
                "clusters": cluster_rows,
            }
        )
    return rows


@app.command()
def regroup(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Split the window's stories where their write-ups fall into groups of different events, now (the
    daemon does it every dedup.regroup_every)."""
    from datetime import UTC, datetime

    from monitor.dedupe.regrouping import regroup_window

    try:
        config = state_of(ctx).config()
    except MonitorError as exc:
        raise fail(exc) from exc
    db = database_or_exit(ctx)
    with db.write_session() as session:
        done = regroup_window(session, settings=config.dedup, now=datetime.now(UTC))
    db.dispose()
    rows: list[dict] = [
        {"from_story": s.from_story, "to_story": s.to_story, "wire_clusters": list(s.clusters)} for s in done
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no story split: each story's write-ups hold together")
    for row in rows:
        out.print(
            f"story {row['from_story']}: {len(row['wire_clusters'])} write-up(s) split off into story"
            f" {row['to_story']}",
            highlight=False,
        )


@app.command()
def explain(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The article's URL.")],
    as_json: JsonOption = False,
) -> None:
    """Say why an article joined its wire cluster and its story: method, scores, shared shingles and terms."""
    from monitor.dedupe.explain import explain_article
    from monitor.ingest.urls import lookup_forms
    from monitor.store.articles import article_at

    written, canonical = lookup_forms(url)
    db = database_or_exit(ctx)
    with db.session() as session:
        article = article_at(session, url=written, canonical=canonical)
        report = explain_article(session, article) if article is not None else None
    db.dispose()
    if report is None:
        raise fail(
            MonitorError(
                f"no stored article has the URL {url}", hint="see the stored URLs with: monitor articles"
            )
        )
    if as_json:
        print_json(report)
        return
    for line in report["lines"]:
        out.print(line, highlight=False, markup=False)
