"""The regrouping pass on a real database: two events of one kind that the stage put in one story are split
into two, stories stay findable and consistent, and one event's story is left alone."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from support.articles import extracted_article, stored_and_placed

from monitor.config import DedupSettings
from monitor.dedupe.explain import explain_article
from monitor.dedupe.regrouping import apply_regroup, plan_regroup, regroup_window
from monitor.store import stories as stories_store
from monitor.store.models import Article as ArticleRow
from monitor.store.models import Story

T = datetime(2024, 9, 9, 8, tzinfo=UTC)
# The stage's defaults, which join the two events below: their write-ups share the frame of a landslide
# (the merge the pass must undo).
MERGING = DedupSettings()

FRAME = [
    "Rescuers dug through mud and rock after the landslide buried part of the mountain village.",
    "Heavy rain had soaked the hillside for days before the slope gave way before dawn.",
    "Volunteers carried elderly residents to the school gym, which now serves as a shelter.",
    "The only road into the valley was cut, and rescue teams walked in with shovels.",
    "Officials warned that more of the slope could slide if the rain continues tonight.",
    "Families waited at the edge of the debris for news of relatives still missing.",
]


def event(village: str, mayor: str, river: str, missing: int, houses: int, agency: str) -> list[str]:
    return [
        f"The landslide in {village} destroyed {houses} houses along the {river} river.",
        f"Mayor {mayor} of {village} said {missing} people were still missing on Tuesday evening.",
        f"{agency} sent two helicopters to {village} to lift the injured to the provincial hospital.",
        f"Residents of {village} said the {river} had turned brown hours before the slope collapsed.",
        f"{mayor} asked for excavators and dogs trained to find people under rubble in {village}.",
        f"In {village}, {houses} families lost their homes, according to a count by {agency}.",
        f"The {river} valley around {village} was declared a disaster zone by the governor.",
    ]


FILLER = "reportedly again still also nearby later early local overnight meanwhile".split()


def reworded(sentence: str, rng: random.Random) -> str:
    """The sentence in an outlet's own words, near enough: a word of its own every few, so no two write-ups
    share the five-word runs that make a wire copy."""
    words = sentence.split()
    for at in range(len(words) - 1, 0, -rng.randint(2, 3)):
        words.insert(at, rng.choice(FILLER))
    return " ".join(words)


def write_ups(rng: random.Random, own: list[str], n: int) -> list[str]:
    texts = []
    for _ in range(n):
        sentences = rng.sample(own, 4) + rng.sample(FRAME, 3)
        rng.shuffle(sentences)
        texts.append("\n\n".join(reworded(sentence, rng) for sentence in sentences))
    return texts


def place(session, texts: list[str], prefix: str, start: datetime, settings: DedupSettings) -> list[int]:
    ids = []
    for n, text in enumerate(texts):
        at = start + timedelta(minutes=7 * n)
        article = extracted_article(f"https://{prefix}{n}.test/news", text, at, title=text.split(".")[0])
        row, _ = stored_and_placed(session, article, settings)
        ids.append(row.id)
    return ids


def story_of(session, ids: list[int]) -> set[int | None]:
    return {session.get(ArticleRow, i).story_id for i in ids}


def merged_landslides(db) -> tuple[list[int], list[int]]:
    """Ten write-ups of a landslide in Kalvik, then ten of one in Marrano three hours later, placed by the
    stage at its defaults, which joins them in one story; the two lists of article ids."""
    rng = random.Random(3)
    north = event("Kalvik", "Anna Berglund", "Ostra", 14, 23, "the Red Cross")
    south = event("Marrano", "Pietro Vanni", "Serra", 6, 41, "civil protection")
    with db.session() as session:
        a = place(session, write_ups(rng, north, 10), "north", T, MERGING)
        b = place(session, write_ups(rng, south, 10), "south", T + timedelta(hours=3), MERGING)
    with db.session() as session:
        assert len(story_of(session, a + b)) == 1  # the stage's mistake
    return a, b


def test_two_events_merged_by_the_stage_are_split_into_two_stories(db):
    a, b = merged_landslides(db)
    rng = random.Random(4)
    south = event("Marrano", "Pietro Vanni", "Serra", 6, 41, "civil protection")
    with db.session() as session:
        merged = story_of(session, a).pop()
    with db.write_session() as session:
        done = regroup_window(session, settings=MERGING, now=T + timedelta(hours=8))
    with db.session() as session:
        assert len(done) == 1 and done[0].from_story == merged
        north_story, south_story = story_of(session, a), story_of(session, b)
        assert len(north_story) == 1 and len(south_story) == 1 and north_story != south_story
        # The larger group keeps the story (here of equal size: the earlier one, the north's).
        assert north_story == {merged} and south_story == {done[0].to_story}

        for story_id, ids in ((merged, a), (done[0].to_story, b)):
            story = session.get(Story, story_id)
            assert story.size == len(ids)
            assert story.representative_id in ids
            assert stories_store.parse_profile(story.profile)
        new = session.get(Story, done[0].to_story)
        assert new.first_seen_at == T + timedelta(hours=3)
        assert new.last_seen_at == T + timedelta(hours=3, minutes=63)

        # What the pass wrote is what explain says.
        report = explain_article(session, session.get(ArticleRow, b[0]))
        assert any("regrouped: split off story" in line for line in report["lines"])

    with db.write_session() as session:  # done once: a second pass finds nothing more to split
        assert regroup_window(session, settings=MERGING, now=T + timedelta(hours=9)) == []
    with db.session() as session:
        # The new story is found by its own key terms: the next write-up of the southern event joins it.
        later = place(
            session, write_ups(rng, south, 1), "south-later", T + timedelta(hours=10), DedupSettings()
        )
        assert story_of(session, later) == {done[0].to_story}


def test_one_event_is_not_split(db):
    rng = random.Random(5)
    north = event("Kalvik", "Anna Berglund", "Ostra", 14, 23, "the Red Cross")
    with db.session() as session:
        ids = place(session, write_ups(rng, north, 16), "north", T, MERGING)
        others = place(
            session,
            [
                f"The museum opened gallery {n} with paintings lent by a collector of Dutch art."
                for n in range(6)
            ],
            "museum",
            T,
            DedupSettings(),
        )
    with db.write_session() as session:
        stories_before = {row.id: row.size for row in session.query(Story)}
        assert regroup_window(session, settings=MERGING, now=T + timedelta(hours=8)) == []
        assert {row.id: row.size for row in session.query(Story)} == stories_before
        assert len(story_of(session, ids)) == 1 and len(story_of(session, others)) >= 1


def test_stories_outside_the_window_are_left_alone(db):
    a, b = merged_landslides(db)
    with db.write_session() as session:
        later = T + MERGING.window + timedelta(days=2)
        assert regroup_window(session, settings=MERGING, now=later) == []
        assert len(story_of(session, a + b)) == 1


def test_the_daemon_regroups_on_its_schedule_and_follows_a_reload(tmp_path, db, monkeypatch):
    import asyncio

    from monitor.config import load_config
    from monitor.daemon.scheduler import Daemon, job_scheduler
    from monitor.digest.runner import DigestRunner
    from monitor.pipeline import Pipeline
    from monitor.runtime.metrics import PrometheusMetrics

    metrics = PrometheusMetrics()
    path = tmp_path / "feeds.yaml"
    digest = (
        "watchlist:\n  topics:\n    - {name: slides, query: landslid*}\n"
        "digests:\n  - name: morning\n    schedule: '0 7 * * *'\n    topics: [slides]\n"
        "    channels:\n      slack: {webhook_url: 'http://127.0.0.1:9/hook'}\n"
    )
    path.write_text("feeds: []\n" + digest)
    a, b = merged_landslides(db)

    async def scenario():
        scheduler = job_scheduler(asyncio.get_running_loop())
        async with Pipeline(load_config(path), db) as pipeline:
            daemon = Daemon(pipeline.config, db, pipeline, metrics, scheduler=scheduler)
            daemon.schedule()
            job = scheduler.get_job("regroup")
            assert job is not None and job.trigger.interval == timedelta(hours=1)
            path.write_text("feeds: []\ndedup:\n  regroup_every: off\n" + digest)
            assert await daemon.reload(force=True) is True
            assert scheduler.get_job("regroup") is None
            path.write_text("feeds: []\ndedup:\n  regroup_every: 15m\n" + digest)
            assert await daemon.reload(force=True) is True
            assert scheduler.get_job("regroup").trigger.interval == timedelta(minutes=15)
            # The articles are of 2024: the window is widened to reach them from today.
            reaching = daemon.config.dedup.model_copy(update={"window": timedelta(days=20000)})
            daemon.config = daemon.config.model_copy(update={"dedup": reaching})
            # A scheduled digest (its real job) runs the pass first: what it reads is already split.
            seen = []

            def run(runner, *, period, now):
                with db.session() as session:
                    seen.append((len(story_of(session, a)), len(story_of(session, a + b))))
                return []

            monkeypatch.setattr(DigestRunner, "run", run)
            await asyncio.to_thread(scheduler.get_job("digest:morning").func)
            assert seen == [(1, 2)]
            exposition = metrics.exposition()[0].decode()
            assert 'monitor_regroup_passes_total{result="ok"} 1.0' in exposition
            assert "monitor_stories_split_total 1.0" in exposition
            assert "monitor_regroup_seconds_count 1.0" in exposition

    asyncio.run(scenario())
    with db.session() as session:
        assert len(story_of(session, a)) == 1 and len(story_of(session, b)) == 1
        assert story_of(session, a) != story_of(session, b)


def test_regroup_every_is_a_duration_of_a_minute_or_more_or_off(tmp_path):
    from monitor.config import load_config
    from monitor.errors import MonitorError

    path = tmp_path / "feeds.yaml"
    for value, expected in (("2h", timedelta(hours=2)), ("off", None), ("false", None)):
        path.write_text(f"feeds: []\ndedup:\n  regroup_every: {value}\n")
        assert load_config(path).dedup.regroup_every == expected
    path.write_text("feeds: []\ndedup:\n  regroup_every: 10s\n")
    with pytest.raises(MonitorError, match="too often"):
        load_config(path)


def test_a_pass_that_fails_half_way_leaves_the_stories_as_they_were(db, monkeypatch):
    # One transaction: a failure (or a process killed) after the new story was made and its write-ups moved,
    # before the old story was rebuilt, leaves no half-split story behind.
    a, b = merged_landslides(db)
    with db.session() as session:
        before = {row.id: (row.size, row.profile) for row in session.query(Story)}
    rebuilt = []

    def failing(session, **story):
        rebuilt.append(story["story_id"])
        if len(rebuilt) == 2:
            raise RuntimeError("killed")
        real(session, **story)

    real = stories_store.rebuild_story
    monkeypatch.setattr(stories_store, "rebuild_story", failing)
    with pytest.raises(RuntimeError), db.write_session() as session:
        regroup_window(session, settings=MERGING, now=T + timedelta(hours=8))
    with db.session() as session:
        assert {row.id: (row.size, row.profile) for row in session.query(Story)} == before
        assert len(story_of(session, a + b)) == 1


def test_a_story_that_takes_a_write_up_while_it_is_judged_is_left_for_the_next_pass(db):
    # The daemon judges in a reading transaction and splits in a writing one: a write-up placed in between
    # would be left out of both parts' profiles, or moved nowhere.
    a, b = merged_landslides(db)
    rng = random.Random(5)
    now = T + timedelta(hours=8)
    with db.session() as session:
        merged = story_of(session, a).pop()
        plan = plan_regroup(session, settings=MERGING, now=now)
    assert list(plan.leaving) == [merged]
    south = event("Marrano", "Pietro Vanni", "Serra", 6, 41, "civil protection")
    with db.session() as session:
        late = place(session, write_ups(rng, south, 1), "south-late", T + timedelta(hours=4), MERGING)
        assert story_of(session, late) == {merged}
    with db.write_session() as session:
        assert apply_regroup(session, plan, now=now) == []
    with db.session() as session:
        assert story_of(session, a + b + late) == {merged}
    with db.write_session() as session:  # judged again with it, the story is split
        assert len(regroup_window(session, settings=MERGING, now=now)) == 1
    with db.session() as session:
        assert story_of(session, late) == story_of(session, b) != story_of(session, a)


def test_the_daemon_judges_the_window_while_others_write(db, tmp_path, web, monkeypatch):
    # Judged inside the write lock, a busy window's seconds of clustering kept every poll from storing.
    if db.sqlite_path is None:
        pytest.skip("PostgreSQL has no database-wide write lock")
    from test_database_outages import daemon_of, feeds_yaml

    import monitor.daemon.scheduler as scheduler_module
    from monitor.config import load_config
    from monitor.dedupe import regroup

    a, b = merged_landslides(db)
    monkeypatch.setattr(scheduler_module, "_utcnow", lambda: T + timedelta(hours=8))
    judged = regroup.regroup
    writes: list[str] = []

    def judged_while_another_writes(vectors):
        other = sqlite3.connect(db.sqlite_path, timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            writes.append("written")
        except sqlite3.OperationalError as exc:
            writes.append(str(exc))
        finally:
            other.close()
        return judged(vectors)

    monkeypatch.setattr(regroup, "regroup", judged_while_another_writes)
    config = load_config(feeds_yaml(tmp_path, web))

    async def scenario() -> None:
        async with daemon_of(config, db) as daemon:
            await asyncio.to_thread(daemon.regroup)

    asyncio.run(scenario())
    assert writes == ["written"]
    with db.session() as session:
        assert story_of(session, a) != story_of(session, b)
