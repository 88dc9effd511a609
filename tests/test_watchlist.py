"""The watchlist as configured: YAML validation with file, line and key; a separate file; the bundled
topic against the seed articles (when ../shared is present) and against texts it must not match;
reloading that keeps a valid watchlist when the new one is broken."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config
from monitor.daemon.reload import ConfigReloader
from monitor.watchlist import ArticleText, load_watchlist
from monitor.watchlist.backtest import run_examples
from monitor.watchlist.tag import Tagger

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MONITOR_SHARED_DIR") or REPO.parent / "shared")
SEEDS = sorted((SHARED / "seeds").glob("*.txt")) if (SHARED / "seeds").is_dir() else []

FEEDS = """
feeds:
  - {name: a, url: "https://a.example/feed"}
"""


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    """Write ``text``; a FEEDS prefix and an indented block after it are dedented separately."""
    head, rest = (FEEDS, text[len(FEEDS) :]) if text.startswith(FEEDS) else ("", text)
    path = tmp_path / name
    path.write_text(head.lstrip() + textwrap.dedent(rest).lstrip("\n"), encoding="utf-8")
    return path


def problems_of(path: Path) -> list:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return list(caught.value.problems)


def test_inline_watchlist_compiles(tmp_path):
    config = load_config(
        write(
            tmp_path,
            FEEDS
            + """
        watchlist:
          aliases:
            iran: [Iran, Tehran, 'Islamic Revolutionary Guard Corps']
          topics:
            - name: arms
              query: '@iran AND missil*'
              should_match: [Tehran sent missiles.]
              should_not_match: [Tehran weather.]
            - name: switched-off
              query: iran
              enabled: false
    """,
        )
    )
    watchlist = load_watchlist(config)
    assert watchlist.names == ("arms",)
    assert [m.topic for m in watchlist.match(ArticleText(body="Tehran sent missiles"))] == ["arms"]
    assert all(result.passed for result in run_examples(watchlist))
    assert len(watchlist.fingerprint) == 12


def test_a_query_that_does_not_parse_names_topic_column_line_and_key(tmp_path):
    path = write(
        tmp_path,
        FEEDS
        + """
        watchlist:
          topics:
            - name: arms
              query: 'iran AND (missile OR'
    """,
    )
    (problem,) = problems_of(path)
    assert (problem.file, problem.line, problem.key) == (str(path), 6, "watchlist.topics[0].query")
    assert "topic 'arms': query column 21" in problem.message
    assert "add a term" in problem.hint
    assert str(problem).startswith(f"{path}:6:")


def test_every_query_and_alias_problem_is_reported_at_once(tmp_path):
    path = write(
        tmp_path,
        FEEDS
        + """
        watchlist:
          aliases:
            iran: [Iran, 'mis*ile']
          topics:
            - name: a
              query: '@irn'
            - name: A
              query: 'iran russia'
            - name: weighted
              weights: {iran: 2}
            - name: empty
    """,
    )
    found = {(p.key, p.line): p for p in problems_of(path)}
    assert "inside" in found["watchlist.aliases.iran[1]", 5].message
    assert "did you mean @iran?" in found["watchlist.topics[0].query", 8].hint
    assert "duplicate topic name 'A'" in found["watchlist.topics[1].name", 9].message
    assert "missing operator" in found["watchlist.topics[1].query", 10].message
    assert "min_score" in found["watchlist.topics[2].weights", 12].hint
    assert "neither a query nor weights" in found["watchlist.topics[3]", 13].message


def test_unknown_keys_are_found_first(tmp_path):
    (problem,) = problems_of(
        write(
            tmp_path,
            FEEDS
            + """
        watchlist:
          topics:
            - name: typo
              qeury: iran
    """,
        )
    )
    assert (problem.key, problem.line) == ("watchlist.topics[0].qeury", 6)
    assert "did you mean 'query'?" in problem.hint


def test_watchlist_in_its_own_file(tmp_path):
    write(
        tmp_path,
        """
        aliases:
          russia: [Russia, Moscow]
        topics:
          - name: moscow
            query: '@russia AND drone*'
    """,
        "topics.yaml",
    )
    config = load_config(write(tmp_path, FEEDS + "watchlist: {file: topics.yaml, reload_every: 1s}\n"))
    assert load_watchlist(config).names == ("moscow",)

    write(
        tmp_path,
        """
        topics:
          - name: moscow
            query: '@russia AND'
    """,
        "topics.yaml",
    )
    (problem,) = problems_of(tmp_path / "feeds.yaml")
    assert (problem.file, problem.line) == (str(tmp_path / "topics.yaml"), 3)
    assert "unknown alias" in problem.message or "ends where a term" in problem.message


def test_missing_watchlist_file_is_a_clear_error(tmp_path):
    (problem,) = problems_of(write(tmp_path, FEEDS + "watchlist: {file: nowhere.yaml}\n"))
    assert problem.message == "watchlist file not found" and problem.file.endswith("nowhere.yaml")
    # The file is named in feeds.yaml: --config and MONITOR_CONFIG have nothing to do with it.
    assert "watchlist.file" in problem.hint and "MONITOR_CONFIG" not in problem.hint


@pytest.mark.parametrize("text", ["", "# topics to come\n"])
def test_an_empty_watchlist_file_says_what_a_watchlist_file_holds(tmp_path, text):
    write(tmp_path, text, "topics.yaml")
    (problem,) = problems_of(write(tmp_path, FEEDS + "watchlist: {file: topics.yaml}\n"))
    assert problem.message == "watchlist file is empty" and problem.file.endswith("topics.yaml")
    assert problem.hint is not None and "topics:" in problem.hint and "feeds:" not in problem.hint


def test_no_watchlist_section_is_an_empty_watchlist(tmp_path):
    assert load_watchlist(load_config(write(tmp_path, FEEDS))).topics == ()


# --- The bundled topic ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    return load_watchlist(load_config(REPO / "feeds.yaml"))


def topics_of(watchlist, body: str, title: str = "") -> set[str]:
    return {m.topic for m in watchlist.match(ArticleText(title=title, body=body))}


def test_bundled_examples_pass(bundled):
    results = run_examples(bundled)
    assert results and all(r.passed for r in results), [r for r in results if not r.passed]


@pytest.mark.corpus
@pytest.mark.skipif(not SEEDS, reason="../shared/seeds is not present")
@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.name[:3])
def test_bundled_topic_matches_every_seed(bundled, seed):
    text = seed.read_text(encoding="utf-8")
    found = {m.topic: m for m in bundled.match(ArticleText(body=text))}
    assert {"iran-russia-arms", "iran-russia-arms-weighted"} <= set(found)
    evidence = found["iran-russia-arms"].evidence
    assert evidence.clauses and evidence.terms and "**" in evidence.marked()


def test_seed_count_when_present():
    if SEEDS:
        assert len(SEEDS) == 5


NOT_ABOUT_ARMS_TRANSFERS = {
    "general Iran news": (
        "Iran's president inaugurated a new metro line in Tehran on Sunday. The Iranian rial fell again "
        "against "
        "the dollar, and the central bank promised to curb inflation before the Persian new year."
    ),
    "the Iran nuclear file": (
        "The IAEA said Iran had enriched uranium to 60 percent at Fordow. Russia, a party to the 2015 "
        "nuclear "
        "deal, called for restraint, and Moscow offered to take Iran's enriched uranium stockpile as part "
        "of a "
        "new agreement. Tehran said its ballistic missile programme was not part of the nuclear talks."
    ),
    "Iran nuclear file in Russian": (
        "МАГАТЭ сообщило, что Иран обогатил уран до 60 процентов. Россия призвала стороны вернуться к "
        "ядерной "
        "сделке, а Москва предложила вывезти обогащенный уран из Ирана."
    ),
    "Russia–Ukraine war, no Iran": (
        "Russia launched 120 drones and 40 missiles at Ukraine overnight, Kyiv said. Air defence shot "
        "down most "
        "of them. The United States will deliver more Patriot air defence systems and artillery shells to "
        "Ukraine, and Germany pledged to supply IRIS-T launchers, the defence ministry said."
    ),
    "Russia–Ukraine war in Ukrainian": (
        "Росія атакувала Київ ударними безпілотниками та ракетами. Сили ППО збили більшість цілей; союзники "
        "пообіцяли передати Україні нові системи протиповітряної оборони."
    ),
    "Iran and Russia, trade only": (
        "Iran and Russia agreed on Tuesday to expand wheat exports and to finish the rail corridor to the "
        "Caspian Sea; Tehran and Moscow also discussed tourism and banking links."
    ),
    "Iran and Israel, missiles but no Russia": (
        "Iran fired ballistic missiles at Israel overnight; the United States said it had helped to "
        "intercept "
        "them and would supply Israel with another air defence battery."
    ),
}


@pytest.mark.parametrize("name", NOT_ABOUT_ARMS_TRANSFERS)
def test_bundled_topic_leaves_other_news_alone(bundled, name):
    assert topics_of(bundled, NOT_ABOUT_ARMS_TRANSFERS[name]) == set()


@pytest.mark.parametrize(
    "body",
    [
        "Moscow took delivery of a further batch of Iranian Fath-360 missiles, according to intelligence "
        "officials.",
        "Иран передал России партию дронов-камикадзе «Шахед»; в Москве поставки не комментируют.",
        "ایران هرگز موشک بالستیک به روسیه ارسال نکرده است، سخنگوی وزارت خارجه گفت.",
        "Russia will supply Iran with Su-35 fighter jets and Mi-28 helicopters, Iranian state media "
        "reported.",
        "The EU sanctioned Iranian officials over Shahed drones used by Russia against Ukraine.",
    ],
)
def test_bundled_topic_finds_transfers_in_either_direction_and_script(bundled, body):
    assert "iran-russia-arms" in topics_of(bundled, body)


# --- Reloading ------------------------------------------------------------------------------------------


def test_reload_swaps_a_valid_watchlist_and_keeps_the_old_one_when_invalid(tmp_path, caplog):
    def topic(query: str) -> str:
        return FEEDS + f"watchlist:\n  topics:\n    - name: t\n      query: '{query}'\n"

    path = write(tmp_path, topic("iran"))
    config = load_config(path)
    tagger = Tagger(load_watchlist(config))
    reloader = ConfigReloader(config)

    def check() -> bool:  # as the daemon applies a reload: the watchlist swapped in one reference
        loaded = reloader.load()
        if loaded is not None:
            tagger.replace(loaded.watchlist)
        return loaded is not None

    assert check() is False  # unchanged

    def edit(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a visible change

    edit(topic("russia"))
    assert check() is True
    assert [m.topic for m in tagger.watchlist.match(ArticleText(body="Russia"))] == ["t"]

    edit(topic("russia AND ("))
    with caplog.at_level("ERROR"):
        assert check() is False
    assert "configuration not reloaded" in caplog.text and "query column" in caplog.text
    assert [m.topic for m in tagger.watchlist.match(ArticleText(body="Russia"))] == ["t"]  # the old one stays
    time.sleep(0)
    assert check() is False  # the broken file is not tried again until it changes
    # Several problems: a log line each, none with an escaped line break in it.
    caplog.clear()
    edit(topic("russia") + "settings:\n  bogus_key: 1\n  other_bogus_key: 2\n")
    with caplog.at_level("ERROR"):
        assert check() is False
    lines = [record.getMessage() for record in caplog.records if "not reloaded" in record.getMessage()]
    assert len(lines) == 2 and "1 more problem," in lines[0], lines
    assert not any("\n" in line for line in lines) and "other_bogus_key" in lines[1]


def test_a_failed_example_says_what_was_missing_or_that_the_score_fell_short(tmp_path):
    config = load_config(
        write(
            tmp_path,
            FEEDS
            + """
        watchlist:
          topics:
            - name: arms
              query: 'iran AND russia AND missil*'
              should_match: [Iran and Russia met.]
            - name: weighted
              weights: {iran: 1, russia: 1, "missil*": 2}
              min_score: 3
              should_match: [Iran and Russia met.]
    """,
        )
    )
    details = [r.detail for r in run_examples(load_watchlist(config))]
    assert details == ["did not match: no missil*", "did not match: total weight 2 is below min_score 3"]


def test_a_digest_naming_a_topic_the_watchlist_does_not_have_is_an_error_at_its_line(tmp_path):
    """A topic renamed in the watchlist but not in a digest's topics: the digest would carry nothing of it."""
    (tmp_path / "topics.yaml").write_text(
        "topics:\n  - {name: arms-transfers, query: missil*}\n  - {name: old, query: gas, enabled: false}\n",
        encoding="utf-8",
    )
    text = (
        FEEDS
        + "watchlist: {file: topics.yaml}\ndigests:\n  - name: daily\n    topics: [arms-transfers, old, iran-russia-arms]\n"
    )
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.key == "digests[0].topics[2]" and problem.line == 6
    assert "'iran-russia-arms', which the watchlist does not have" in problem.message
    assert "arms-transfers" in problem.hint  # a disabled topic ("old") may be named: it is still defined
