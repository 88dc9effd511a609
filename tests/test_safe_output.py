"""What the CLI prints is safe on a terminal: control characters from outside are shown as escapes, and
brackets in names and messages are text, never Rich markup."""

from __future__ import annotations

import io

import pytest
import sqlalchemy
from rich.table import Table
from rich.text import Text
from support.httpserver import Route
from support.news import make_entries, rss

from monitor.cli import fail, print_json
from monitor.cli.output import SafeConsole, styled, visible
from monitor.errors import MonitorError

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
ESC_TITLE = "Breaking\x1b]0;owned\x07 news \x1b[2J\x9b31m"


@pytest.mark.parametrize(
    "text, shown",
    [
        ("plain text, Ünïcödé, ایران", "plain text, Ünïcödé, ایران"),
        ("a\x1b[31mb", "a\\x1b[31mb"),
        ("NUL\x00 BEL\x07 DEL\x7f", "NUL\\x00 BEL\\x07 DEL\\x7f"),
        ("C1 \x9b and \x85", "C1 \\x9b and \\x85"),
        ("bidi \u202egnp.exe", "bidi \\u202egnp.exe"),
        ("two\nlines\ttab", "two\\x0alines\\x09tab"),
    ],
)
def test_visible_shows_controls_as_escapes(text, shown):
    assert visible(text) == shown


def test_visible_keeps_lines_of_messages_when_asked():
    assert visible("one\n\ttwo\x1b", lines=True) == "one\n\ttwo\\x1b"


def _rendered(*things, terminal=True) -> str:
    buffer = io.StringIO()
    console = SafeConsole(
        file=buffer, force_terminal=terminal, width=200, color_system="truecolor" if terminal else None
    )
    for thing in things:
        console.print(thing)
    return buffer.getvalue()


def test_the_console_never_writes_a_control_character_from_outside():
    table = Table()
    table.add_column("title")
    table.add_row(ESC_TITLE)
    shown = _rendered(ESC_TITLE, table, Text(ESC_TITLE, "bold"), styled("[red]{}[/]", ESC_TITLE))
    # Rich's own styling is the only escape sequence left, and it never sets a title or clears the screen.
    assert "\x1b]" not in shown and "\x1b[2J" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert shown.count("\\x1b]0;owned") == 4  # (Rich drops the BEL of a Text itself)


def test_brackets_are_text_not_markup():
    shown = _rendered(
        "[/x] and [bold]x[/bold]", styled("[red]error:[/] {}", "[/x] [bold]x[/bold]"), terminal=False
    )
    assert shown.splitlines() == ["[/x] and [bold]x[/bold]", "error: [/x] [bold]x[/bold]"]


def test_a_hint_keeps_its_brackets(capsys):
    fail(MonitorError("no driver", hint="pip install 'monitor[postgres]'"))
    assert "pip install 'monitor[postgres]'" in capsys.readouterr().err


def test_json_output_escapes_c1_controls(capsys):
    print_json({"title": "a\x9bb\x1bc"})
    printed = capsys.readouterr().out
    assert "\x9b" not in printed and "\x1b" not in printed
    assert "\\u009b" in printed and "\\u001b" in printed


# --- The real CLI ---------------------------------------------------------------------------------------


def _serve(web, path="/feed.xml"):
    entries = make_entries(web, "world", 2)
    web.set(path, Route(rss("Test feed", web.url("/"), entries), headers=RSS))
    return web.url(path)


def test_poll_a_feed_whose_name_looks_like_markup(web, workspace):
    workspace.write_config([{"name": "[/x]", "url": _serve(web)}])
    result = workspace.cli("poll", "--feed", "[/x]")
    assert "[/x]" in result.stdout and "1 ok" in result.stdout
    feeds = workspace.cli("feeds")
    assert "[/x]" in feeds.stdout


def test_an_unknown_feed_with_brackets_is_named_as_written(web, workspace):
    workspace.write_config([{"name": "[bold]x[/bold]", "url": _serve(web)}])
    result = workspace.cli("poll", "--feed", "[bold]y[/bold]", expect=2)
    assert "no feed named '[bold]y[/bold]'" in result.stderr
    assert "[bold]x[/bold]" in result.stderr  # the known feeds, in the hint
    assert "[bold]x[/bold]" in workspace.cli("check").stdout


def test_articles_show_an_escape_in_a_stored_title_as_text(web, workspace):
    workspace.write_config([{"name": "World", "url": _serve(web)}], fetch_pages=False)
    workspace.cli("poll")
    # Stored by an older version, or written into the database by hand: the listing must not obey it.
    engine = sqlalchemy.create_engine(workspace.database_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE articles SET title = :title"), {"title": ESC_TITLE})
    engine.dispose()
    for command in (("articles",), ("stories",)):
        shown = workspace.cli(*command).stdout
        assert "\x1b" not in shown and "\x9b" not in shown and "\x07" not in shown
    assert "\\x1b" in workspace.cli("articles").stdout
    assert ESC_TITLE in {a["title"] for a in workspace.json("articles")}  # JSON keeps the value, escaped
