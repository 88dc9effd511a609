"""Every expansion has a bound: NEAR in n log n, aliases, query nesting, NEAR chains, YAML nesting and the
size of the files read. Each bound ends in a clear error at its place, never a traceback or a stall."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cli import app
from monitor.config import MAX_YAML_DEPTH, ConfigError, load_config
from monitor.watchlist.aliases import MAX_ALIAS_TERMS, resolve_aliases
from monitor.watchlist.matcher import ArticleText, Matcher, TopicSpec
from monitor.watchlist.near import covered_by, minimal_spans, near_pairs
from monitor.watchlist.query import MAX_DEPTH, MAX_NEAR_CHAIN, QuerySyntaxError, make_term, parse_query
from monitor.watchlist.tree import AliasRef, term_count

# --- NEAR -----------------------------------------------------------------------------------------------


def _all_pairs(lefts, rights, distance, ordered):
    """Every near pair, as NEAR was first defined: the reference for what holds and what counts."""
    return {
        (left, right)
        for left in set(lefts)
        for right in set(rights)
        if left[0] == right[0]
        and (0 <= right[1] - left[2] <= distance or (not ordered and 0 <= left[1] - right[2] <= distance))
    }


def _nearest_pairs(lefts, rights, distance, ordered):
    """Brute force of the pairs kept: one of the two is the other's nearest partner on that side."""
    pairs = _all_pairs(lefts, rights, distance, ordered)

    def after(span, others):  # partners starting at or after the span's end: the closest start
        starts = [o[1] for o in others if o[0] == span[0] and o[1] >= span[2]]
        return min(starts) if starts else None

    def before(span, others):  # partners ending at or before the span's start: the closest end
        ends = [o[2] for o in others if o[0] == span[0] and o[2] <= span[1]]
        return max(ends) if ends else None

    kept = set()
    for left, right in pairs:
        if right[1] >= left[2]:  # the right one after
            if right[1] == after(left, rights) or left[2] == before(right, lefts):
                kept.add((left, right))
        elif right[2] == before(left, rights) or left[1] == after(right, lefts):
            kept.add((left, right))
    return kept


def _spans(draw_words=40):
    field = st.sampled_from(["title", "body"])
    return st.lists(
        st.tuples(field, st.integers(0, draw_words), st.integers(1, 3)).map(
            lambda t: (t[0], t[1], t[1] + t[2])
        ),
        max_size=12,
    )


@settings(max_examples=1500, deadline=None)
@given(_spans(), _spans(), st.integers(0, 6), st.booleans())
def test_near_pairs_agree_with_brute_force(lefts, rights, distance, ordered):
    found = near_pairs(lefts, rights, distance, ordered)
    every = _all_pairs(lefts, rights, distance, ordered)
    assert len(found) == len(set(found))
    assert set(found) == _nearest_pairs(lefts, rights, distance, ordered)
    # What matters as before: whether it holds, which occurrences count, where the best one is.
    assert set(found) <= every
    assert bool(found) == bool(every)
    assert {p[0] for p in found} == {p[0] for p in every}
    assert {p[1] for p in found} == {p[1] for p in every}
    first = lambda pairs: {(left[0], min(left[1], right[1])) for left, right in pairs}  # noqa: E731
    assert [min((s for f, s in first(found) if f == fld), default=None) for fld in ("title", "body")] == [
        min((s for f, s in first(every) if f == fld), default=None) for fld in ("title", "body")
    ]


@settings(max_examples=300, deadline=None)
@given(_spans(), _spans())
def test_covered_by_agrees_with_brute_force(spans, questions):
    within = covered_by(spans)
    for span in questions:
        expected = any(s[0] == span[0] and s[1] <= span[1] and span[2] <= s[2] for s in spans)
        assert within(span) == expected


def test_near_pairs_keep_every_pair_when_occurrences_do_not_interleave():
    lefts = [("body", 0, 1), ("body", 20, 21)]
    rights = [("body", 3, 4), ("body", 18, 19)]
    assert set(near_pairs(lefts, rights, 5, False)) == _all_pairs(lefts, rights, 5, False)


def test_near_with_many_hits_is_not_quadratic():
    # 1 MB of hits: every other word is a hit, every hit near 200 of the other term's.
    matcher = Matcher([TopicSpec("t", parse_query("aa NEAR/200 bb"))])
    body = "aa bb cc " * (1024 * 1024 // 9)
    # CPU seconds of this process, not wall time, so a busy machine does not fail it: about 2.5 s here,
    # where the quadratic answer took hours.
    started = time.process_time()
    (match,) = matcher.match(ArticleText(body=body))
    assert time.process_time() - started < 15
    assert match.evidence.terms[0].count > 100_000


@settings(max_examples=300, deadline=None)
@given(_spans())
def test_minimal_spans_hold_no_other_and_are_held_by_every_span(spans):
    def holds(outer, inner):
        return outer[0] == inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2]

    kept = minimal_spans(spans)
    assert kept == sorted(set(kept)) and set(kept) <= set(spans)
    assert not any(holds(a, b) for a in kept for b in kept if a != b)
    assert all(any(holds(span, k) for k in kept) for span in spans)


def test_a_long_near_chain_over_text_dense_with_its_terms_stays_bounded(monkeypatch):
    """A chain's spans doubled at each level: 16 NEAR/200 on 390 KB took 89 s and 3.7 GB."""
    from monitor.watchlist import compiled

    sizes = []

    def counted(lefts, rights, distance, ordered):
        sizes.append(len(lefts) + len(rights))
        return near_pairs(lefts, rights, distance, ordered)

    monkeypatch.setattr(compiled, "near_pairs", counted)
    terms = ["aa", "bb", "cc", "dd", "ee", "ff", "gg", "hh"]
    query = " NEAR/200 ".join((terms * 3)[: MAX_NEAR_CHAIN + 1])
    words = 16 * 1024
    matcher = Matcher([TopicSpec("chain", parse_query(query))])
    assert matcher.match(ArticleText(body=" ".join((terms * words)[:words])))
    # Kept exactly, the operands grew by a level's worth of spans at each level: 287,718 at the last.
    assert len(sizes) == MAX_NEAR_CHAIN and max(sizes) <= 3 * words


def test_a_near_chain_on_an_article_is_exact():
    """``(a NEAR/10 b) NEAR/10 c`` on "c ... a ... a b": the wide span of the first a and b reaches c, the
    minimal one of the second a does not."""
    matcher = Matcher([TopicSpec("chain", parse_query("aa NEAR/10 bb NEAR/10 cc"))])
    words = ["cc"] + ["x"] * 7 + ["aa"] + ["x"] * 7 + ["aa", "x", "bb"]
    assert matcher.match(ArticleText(body=" ".join(words)))


# --- Aliases, nesting, NEAR chains ----------------------------------------------------------------------


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _alias_bomb(levels: int = 15, fan_out: int = 10) -> str:
    """Each alias names the one before it ten times: 10**15 terms written out."""
    lines = ["feeds: []", "watchlist:", "  aliases:", "    a0: [x, y]"]
    for level in range(1, levels + 1):
        lines.append(f"    a{level}: [" + ", ".join([f"'@a{level - 1}'"] * fan_out) + "]")
    lines += ["  topics:", "    - name: bomb", f"      query: '@a{levels}'"]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_a_clear_error_at_once(tmp_path):
    path = _write(tmp_path / "feeds.yaml", _alias_bomb())
    started = time.process_time()
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    assert time.process_time() - started < 5
    (problem,) = raised.value.problems
    assert problem.key == "watchlist.topics[0].query"
    assert problem.line == 22
    assert f"more than {MAX_ALIAS_TERMS} terms" in problem.message


def test_an_alias_bomb_in_a_watchlist_file_names_that_file(workspace):
    workspace.write_config([])
    config = yaml.safe_load(workspace.config_path.read_text())
    config["watchlist"] = {"file": "topics.yaml"}
    workspace.config_path.write_text(yaml.safe_dump(config))
    _write(
        workspace.root / "topics.yaml", _alias_bomb().split("watchlist:\n", 1)[1].replace("\n  ", "\n")[2:]
    )
    result = workspace.cli("check", expect=2)
    assert "topics.yaml:" in result.stderr and "terms (at @a15)" in result.stderr
    assert "Traceback" not in result.stderr


def test_aliases_within_the_bound_still_expand():
    aliases = {"a": [make_term("x"), make_term("y")], "b": [AliasRef("a"), AliasRef("a"), make_term("z")]}
    assert term_count(resolve_aliases(parse_query("@b AND @a"), aliases)) == 7


@pytest.mark.parametrize(
    "query, message",
    [
        ("a NEAR/1 " * 3000 + "b", "characters long"),
        (" NEAR/1 ".join(["w"] * (MAX_NEAR_CHAIN + 2)), f"more than {MAX_NEAR_CHAIN} NEARs in a row"),
        ("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), "nests too deeply"),
        ("NOT " * (MAX_DEPTH + 1) + "a", "nests too deeply"),
        ("(" * 50 + " NEAR/1 ".join(["w"] * 16) + ")" * 50, "nests too deeply"),  # 50 + 15 levels
    ],
)
def test_deep_and_long_queries_are_clear_errors(query, message):
    with pytest.raises(QuerySyntaxError, match=message):
        parse_query(query)


def test_the_longest_allowed_near_chain_matches():
    query = " NEAR/1 ".join(f"w{i}" for i in range(MAX_NEAR_CHAIN + 1))
    matcher = Matcher([TopicSpec("chain", parse_query(query))])
    text = " ".join(f"w{i}" for i in range(MAX_NEAR_CHAIN + 1))
    assert matcher.match(ArticleText(body=text))


# --- Files: size and YAML nesting -----------------------------------------------------------------------


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom"])
def test_an_endless_config_file_is_refused(special):
    with pytest.raises(ConfigError, match="larger than 5 MB"):
        load_config(special, {})


def test_a_config_from_an_endless_fifo_is_refused(tmp_path):
    fifo = tmp_path / "feeds.yaml"
    os.mkfifo(fifo)

    def write_forever():
        try:
            with open(fifo, "wb") as handle:
                while True:
                    handle.write(b"# more\n" * 4096)
        except (BrokenPipeError, OSError):
            pass  # the reader stopped reading, as it should

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    with pytest.raises(ConfigError, match="larger than 5 MB"):
        load_config(fifo, {})
    writer.join(timeout=5)


def test_check_with_dev_zero_is_a_clear_error(workspace):
    result = workspace.runner.invoke(app, ["--config", "/dev/zero", "--db", workspace.database_url, "check"])
    assert result.exit_code == 2
    assert "larger than 5 MB" in result.stderr


def test_a_watchlist_file_pointing_at_dev_zero_is_refused(tmp_path):
    path = _write(tmp_path / "feeds.yaml", "feeds: []\nwatchlist: {file: /dev/zero}\n")
    with pytest.raises(ConfigError, match="/dev/zero: file is larger than 5 MB"):
        load_config(path, {})


@pytest.mark.parametrize("depth", [MAX_YAML_DEPTH + 1, 5_000, 100_000])
def test_deeply_nested_yaml_is_a_clear_error_with_its_line(tmp_path, depth):
    path = _write(tmp_path / "feeds.yaml", "feeds: []\nsettings:\n  x: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    (problem,) = raised.value.problems
    assert f"nests more than {MAX_YAML_DEPTH} levels" in problem.message
    assert problem.line == 3


def test_yaml_nested_to_the_limit_is_read(tmp_path):
    depth = MAX_YAML_DEPTH - 3  # the file's own mapping, settings: and x: are levels too
    path = _write(
        tmp_path / "feeds.yaml",
        "feeds: []\nwatchlist:\n  aliases:\n    x: " + "[" * depth + "]" * depth + "\n",
    )
    with pytest.raises(ConfigError) as raised:  # read, then refused for its shape, not its depth
        load_config(path, {})
    assert all("nests" not in problem.message for problem in raised.value.problems)


# --- monitor check is strict ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://[::1/feed", "is malformed"),
        ("http://[zz]/feed", "is malformed"),
        ("http://example.com:99999/feed", "port is not a number from 1 to 65535"),
        ("http://example.com:0/feed", "port is not a number from 1 to 65535"),
    ],
)
def test_check_refuses_unusable_urls_at_their_line(workspace, url, message):
    workspace.config_path.write_text(f"feeds:\n  - name: a\n    url: '{url}'\n")
    result = workspace.cli("check", expect=2)
    assert f"feeds.yaml:3:5: feeds[0].url: url '{url}'" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_check_accepts_ipv6_literals_and_ports():
    from monitor.config import FeedConfig

    for url in ("http://[::1]:8080/feed", "https://[2001:db8::1]/x", "http://example.com:65535/"):
        assert FeedConfig(name="a", url=url).url == url


@pytest.mark.parametrize(
    "section, key",
    [
        ('feeds:\n  - name: "a\\0b"\n    url: http://example.com/\n', "feeds[0].name"),
        ('feeds: []\ndigests:\n  - name: "m\\e[31m"\n', "digests[0].name"),
        ('feeds: []\nwatchlist:\n  topics:\n    - {name: "t\\x9bx", query: a}\n', "watchlist.topics[0].name"),
    ],
)
def test_check_refuses_control_characters_in_names(tmp_path, section, key):
    path = _write(tmp_path / "feeds.yaml", section)
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    (problem,) = raised.value.problems
    assert problem.key == key and "control character" in problem.message


# --- Any input: a result or a clear error, soon ---------------------------------------------------------

# Per example, generous for a loaded machine: the bounds above make every case far quicker than this.
EXAMPLE_SECONDS = 2.0

_QUERY_PIECES = st.sampled_from(
    [
        "iran",
        "missil*",
        "Déjà",
        "ایران",
        '"ballistic missile"',
        "@iran",
        "@nope",
        "@",
        "AND",
        "OR",
        "NOT",
        "and",
        "NEAR/5",
        "ONEAR/0",
        "PRE/200",
        "NEAR/",
        "NEAR/999",
        "(",
        ")",
        "title:",
        "lang:",
        "foo:",
        "*",
        "m*",
        "a?b",
        '"',
        ":",
        "\x00",
        "\x1b[31m",
        "[/x]",
        " ",
    ]
)
_queries = st.one_of(
    st.lists(_QUERY_PIECES, max_size=30).map(" ".join),
    st.text(alphabet=st.sampled_from('ab ()"*@:/NEAROTD\t\n?'), max_size=80),
    st.text(max_size=60),
)
_well_formed_queries = st.recursive(
    st.sampled_from(
        ["iran", "missil*", '"ballistic missile"', "@iran", "title:iran", "Déjà", "body:(vu OR the)"]
    ),
    lambda inner: (
        st.tuples(inner, st.sampled_from([" AND ", " OR ", " NEAR/3 ", " ONEAR/1 "]), inner).map(
            lambda parts: f"({''.join(parts)})"
        )
        | inner.map(lambda query: f"NOT {query}")
    ),
    max_leaves=8,
)
_ALIASES = {
    "iran": [make_term("Iran"), make_term("Tehran"), AliasRef("persia")],
    "persia": [make_term("Persia")],
}


def _timed(action):
    started = time.process_time()  # CPU, not wall time: a busy machine must not fail the bound
    result = action()
    assert time.process_time() - started < EXAMPLE_SECONDS
    return result


@settings(max_examples=700, deadline=None)
@given(_queries)
def test_any_query_parses_or_is_a_clear_error(query):
    def parse():
        try:
            return resolve_aliases(parse_query(query), _ALIASES, query)
        except QuerySyntaxError as error:
            assert error.problem and error.column >= 1 and error.render()
            return None

    _timed(parse)


_texts = st.lists(
    st.sampled_from(
        ["Iran", "Tehran", "missiles", "ballistic", "missile", "Déjà", "vu", "the", ".", "ایران"]
    ),
    max_size=60,
).map(" ".join)


@settings(max_examples=500, deadline=None)
@given(st.lists(_well_formed_queries | _queries, min_size=1, max_size=4), _texts, _texts)
def test_the_matcher_answers_any_topics_on_any_text(queries, title, body):
    specs = []
    for index, query in enumerate(queries):
        try:
            specs.append(TopicSpec(f"t{index}", resolve_aliases(parse_query(query), _ALIASES, query)))
        except QuerySyntaxError:
            continue
    matcher = Matcher(specs)
    matches = _timed(lambda: matcher.match(ArticleText(title=title, body=body)))
    for match in matches:
        assert 0 <= match.score <= 100


_yaml_scalars = st.one_of(
    st.text(max_size=20), st.integers(-(10**6), 10**12), st.booleans(), st.none(), st.floats(allow_nan=False)
)
_yaml_values = st.recursive(
    _yaml_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_KEYS = [
    "settings",
    "feeds",
    "dedup",
    "watchlist",
    "digests",
    "name",
    "url",
    "interval",
    "query",
    "topics",
    "aliases",
    "channels",
    "kind",
    "max_links",
    "file",
    "schedule",
    "max_bytes",
]
_configs = st.one_of(
    # The real shape with odd values...
    st.fixed_dictionaries(
        {},
        optional={
            "feeds": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": _yaml_scalars,
                        "url": st.sampled_from(["http://a.example/", "http://[::1", "x", ""]),
                    },
                    optional={"interval": _yaml_values, "kind": _yaml_values, "max_links": _yaml_values},
                ),
                max_size=3,
            ),
            "settings": st.dictionaries(st.sampled_from(_KEYS), _yaml_values, max_size=3),
            "watchlist": st.fixed_dictionaries(
                {},
                optional={
                    "aliases": st.dictionaries(st.sampled_from(["a", "b"]), st.lists(_queries, max_size=3)),
                    "topics": st.lists(st.fixed_dictionaries({"name": _yaml_scalars, "query": _queries})),
                    "file": st.sampled_from(["/dev/zero", "missing.yaml", "feeds.yaml"]),
                },
            ),
            "digests": st.lists(
                st.dictionaries(st.sampled_from(_KEYS), _yaml_values, max_size=3), max_size=2
            ),
        },
    ).map(lambda data: yaml.safe_dump(data, allow_unicode=True)),
    # ...any YAML at all...
    _yaml_values.map(lambda data: yaml.safe_dump(data, allow_unicode=True)),
    # ...and text that is hardly YAML.
    st.text(alphabet=st.sampled_from("ab:-[]{}&*!|>'\"#%@`\n \t\\0${}"), max_size=120),
)


@settings(max_examples=500, deadline=None)
@given(_configs)
def test_any_config_loads_or_is_a_clear_error(text):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "feeds.yaml"
        path.write_text(text, encoding="utf-8")

        def load():
            try:
                return load_config(path, {})
            except ConfigError as error:
                assert error.problems and all(problem.message for problem in error.problems)
                return None

        _timed(load)
