"""A YAML syntax error in a hand-edited file is reported where its cause is, in the editor's terms: the
non-breaking space a web page brought, the ': ' inside a name, the query that starts with a quote or an @."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, ConfigProblem, load_config
from monitor.watchlist.model import load_watchlist


def only_problem(path: Path, text: str) -> ConfigProblem:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config = load_config(path.parent / "feeds.yaml", {})
        load_watchlist(config)
    assert len(caught.value.problems) == 1, str(caught.value)
    return caught.value.problems[0]


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("feeds:\n  - name: A\n    url:\u00a0http://127.0.0.1:9/a.xml\n", 3, 9),  # the parser says line 4
        ("feeds:\n\u00a0 - name: A\n    url: http://127.0.0.1:9/a.xml\n", 2, 1),
        ("feeds:\n  - name: A\n    url: http://127.0.0.1:9/a.xml\n  -\u00a0name: B\n    url: b\n", 4, 4),
    ],
)
def test_a_non_breaking_space_is_named_at_its_place(
    tmp_path: Path, text: str, line: int, column: int
) -> None:
    problem = only_problem(tmp_path / "feeds.yaml", text)
    assert (problem.line, problem.column) == (line, column)
    assert "U+00A0" in problem.message
    assert problem.hint is not None and "retype the spaces" in problem.hint


def test_a_name_holding_colon_space_is_told_to_take_quotes(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path / "feeds.yaml", "feeds:\n  - name: Reuters: World\n    url: http://127.0.0.1:9/a.xml\n"
    )
    assert problem.line == 2
    assert problem.hint is not None and "needs quotes" in problem.hint


def test_a_query_that_starts_with_a_quote_is_told_to_quote_it_whole(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text("feeds: []\nwatchlist:\n  file: topics.yaml\n", encoding="utf-8")
    problem = only_problem(
        tmp_path / "topics.yaml", 'topics:\n  - name: arms\n    query: "Shahed" AND russia\n'
    )
    assert (Path(problem.file).name, problem.line) == ("topics.yaml", 3)
    assert problem.hint is not None and "put the whole value in single quotes" in problem.hint


def test_a_query_that_starts_with_an_alias_is_told_to_take_quotes(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text("feeds: []\nwatchlist:\n  file: topics.yaml\n", encoding="utf-8")
    problem = only_problem(tmp_path / "topics.yaml", "topics:\n  - name: arms\n    query: @iran AND @arms\n")
    assert (problem.line, problem.column) == (3, 12)
    assert problem.hint is not None and "cannot start with @" in problem.hint


def test_tabs_are_still_named(tmp_path: Path) -> None:
    problem = only_problem(tmp_path / "feeds.yaml", "feeds:\n\t- name: A\n\t  url: http://127.0.0.1:9/a\n")
    assert (problem.line, problem.hint) == (2, "indent with spaces, not tabs")


def test_a_schedule_that_starts_with_a_star_is_told_to_take_quotes(tmp_path: Path) -> None:
    text = "feeds: []\ndigests:\n  - name: d\n    schedule: */30 * * * *  # every half hour\n"
    problem = only_problem(tmp_path / "feeds.yaml", text)
    assert problem.line == 4
    assert problem.hint is not None and "put the whole value in quotes, e.g. '*/30 * * * *'" in problem.hint


def test_a_query_that_starts_with_a_star_names_the_missing_anchor_and_the_quotes(tmp_path: Path) -> None:
    text = "feeds: []\nwatchlist:\n  topics:\n    - name: x\n      query: *drone AND iran\n"
    problem = only_problem(tmp_path / "feeds.yaml", text)
    assert (problem.line, problem.column) == (5, 14)
    assert problem.hint is not None and "'&drone'" in problem.hint and "'*drone AND iran'" in problem.hint


def test_an_example_that_starts_with_an_exclamation_mark_is_told_to_take_quotes(tmp_path: Path) -> None:
    text = "feeds: []\nwatchlist:\n  topics:\n    - name: x\n      query: iran\n      should_match:\n"
    problem = only_problem(tmp_path / "feeds.yaml", text + "        - !important news\n")
    assert (problem.line, problem.key) == (7, "watchlist.topics[0].should_match[0]")
    assert problem.hint is not None and "text in quotes: '!important news'" in problem.hint


def test_a_non_breaking_space_inside_a_quoted_value_is_not_blamed(tmp_path: Path) -> None:
    text = 'feeds:\n  - name: "Note:\u00a0this"\n    url: http://127.0.0.1:9/a.xml\n  - name: B: c\n'
    problem = only_problem(tmp_path / "feeds.yaml", text)
    assert (problem.line, problem.message) == (4, "YAML syntax error: mapping values are not allowed here")


@pytest.mark.parametrize(
    "text",
    [
        "feeds:\n  - name: A\n  url: http://127.0.0.1:9/a.xml\n",  # further left than name:
        "feeds:\n  - name: A\n    url: http://127.0.0.1:9/a.xml\n   tags: [a]\n",  # one space short
    ],
)
def test_a_key_out_of_line_is_told_to_line_up(tmp_path: Path, text: str) -> None:
    problem = only_problem(tmp_path / "feeds.yaml", text)
    assert problem.line == text.count("\n")
    assert problem.hint is not None and problem.hint.startswith(
        "line this key up with the keys it belongs with"
    )
