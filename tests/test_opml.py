"""monitor.ingest.opml and ``monitor import opml`` / ``monitor export opml``: feed lists in and out, safely."""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from monitor.config import load_config
from monitor.ingest.opml import OpmlError, parse_opml, read_opml

SHARED = Path(os.environ.get("MONITOR_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
CORPORA = SHARED / "corpora"
HEADER = (
    "# my watch list\nsettings:\n  host_delay: 0s   # tests\n\nfeeds:\n  # --- mine ---\n"
    "  - name: Mine\n    url: https://mine.example/rss\n    tags: [own]\n\n# watchlist comes later\n"
)


def opml(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><opml version="2.0"><head><title>Subs</title></head><body>{body}</body></opml>'


def hundred_feeds() -> str:
    folders = []
    for f in range(5):
        outlines = "".join(
            f'<outline type="rss" text={quoteattr(f"Feed {f}-{n} – «News» & more")} '
            f"title={quoteattr(f'Feed {f}-{n} – «News» & more')} "
            f"xmlUrl={quoteattr(f'https://site{f}.example/feeds/{n}.xml?lang=en&amp=1')} "
            f'htmlUrl="https://site{f}.example/"/>'
            for n in range(20)
        )
        folders.append(f'<outline text="Folder {f}" title="Folder {f}">{outlines}</outline>')
    return opml("".join(folders))


def test_outlines_become_feeds_with_folders_as_tags():
    listing = parse_opml(
        opml(
            '<outline text="World"><outline text="Regional"><outline text="A" xmlUrl="https://a.example/rss"/>'
            '</outline><outline title="B title" text="B text" xmlUrl="https://b.example/atom" type="atom" '
            'category="/defence,/world"/></outline>'
            '<outline xmlUrl="https://c.example/feed"/>'
            '<outline text="Evil" xmlUrl="javascript:alert(1)"/><outline text="Local" xmlUrl="file:///etc/passwd"/>'
            '<outline text="Podcast" xmlUrl="feed://d.example/podcast"/>'
        ).encode(),
        name="subs.opml",
    )
    assert [(f.name, f.url, f.tags) for f in listing.feeds] == [
        ("A", "https://a.example/rss", ("World", "Regional")),
        ("B title", "https://b.example/atom", ("World", "defence", "world")),
        ("c.example", "https://c.example/feed", ()),
        ("Podcast", "https://d.example/podcast", ()),
    ]
    assert len(listing.skipped) == 2
    assert all(s.startswith("subs.opml:1: ") and "not an http(s) URL" in s for s in listing.skipped)


@pytest.mark.parametrize(
    "data, message",
    [
        (
            (
                b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
                b'<opml><body><outline text="&lol2;" xmlUrl="https://x.example/"/></body></opml>'
            ),
            "declares XML entities",
        ),
        (b"<opml><body><outline", "not well-formed XML"),
        (b"<html><body>not a list</body></html>", "not an OPML file"),
        (b"<opml><head/></opml>", "no <body>"),
        (b"\x00\x01garbage", "not well-formed XML"),
    ],
)
def test_hostile_or_broken_opml_is_refused_with_the_file_named(data, message):
    with pytest.raises(OpmlError) as caught:
        parse_opml(data, name="evil.opml")
    assert caught.value.message.startswith("evil.opml") and message in caught.value.message


def test_huge_and_missing_files_are_refused(tmp_path):
    huge = tmp_path / "huge.opml"
    with huge.open("wb") as handle:
        handle.truncate(6 * 1024 * 1024)
    with pytest.raises(OpmlError, match="huge.opml: the file is larger than 5 MB"):
        read_opml(huge)
    with pytest.raises(OpmlError, match="missing.opml: cannot read the file"):
        read_opml(tmp_path / "missing.opml")


def test_import_of_100_feeds_then_export_keeps_names_urls_and_comments(workspace, tmp_path):
    source = tmp_path / "subs.opml"
    source.write_text(hundred_feeds(), encoding="utf-8")
    workspace.config_path.write_text(HEADER)

    result = workspace.json("import", "opml", str(source))
    assert len(result["added"]) == 100 and result["skipped"] == [] and result["invalid"] == []
    text = workspace.config_path.read_text()
    assert text.startswith(HEADER.split("\n# watchlist")[0]) and text.endswith("\n# watchlist comes later\n")
    config = load_config(workspace.config_path)
    assert len(config.feeds) == 101
    assert config.feeds[1].name == "Feed 0-0 – «News» & more" and config.feeds[1].tags == ("Folder 0",)

    exported = tmp_path / "out.opml"
    workspace.cli("export", "opml", "-o", str(exported))
    original = [(f.name, f.url) for f in read_opml(source).feeds]
    back = read_opml(exported).feeds
    assert [(f.name, f.url) for f in back][1:] == original
    assert back[0].tags == ("own",) and back[1].tags == ("Folder 0",)

    # Importing the same list again adds nothing.
    again = workspace.json("import", "opml", str(exported))
    assert again["added"] == [] and len(again["skipped"]) == 101
    assert workspace.config_path.read_text() == text


def test_export_to_stdout_and_tags_round_trip(workspace, tmp_path):
    workspace.write_config(
        [
            {"name": "Both", "url": "https://both.example/rss", "tags": ["world", "defence"]},
            {"name": "Site map", "url": "https://agency.example/", "kind": "sitemap"},
        ]
    )
    out = workspace.cli("export", "opml").stdout
    listing = parse_opml(out.encode(), name="stdout")
    assert [(f.name, f.url, f.tags, f.kind) for f in listing.feeds] == [
        ("Both", "https://both.example/rss", ("world", "defence"), "rss"),
        ("Site map", "https://agency.example/", (), "sitemap"),
    ]


def test_import_reports_bad_entries_and_a_broken_file(workspace, tmp_path):
    workspace.config_path.write_text(HEADER)
    mixed = tmp_path / "mixed.opml"
    mixed.write_text(
        opml(
            '<outline text="Good" xmlUrl="https://good.example/rss"/>'
            '<outline text="Bad" xmlUrl="ftp://bad.example/rss"/>'
        )
    )
    result = workspace.cli("import", "opml", str(mixed))
    assert "added 1 feed from" in result.stdout and f"{mixed}:1: Bad" in result.stderr

    broken = tmp_path / "broken.opml"
    broken.write_text("<opml><body><outline text='x'")
    before = workspace.config_path.read_text()
    result = workspace.cli("import", "opml", str(broken), expect=2)
    assert f"{broken}" in result.stderr and "not well-formed XML" in result.stderr
    assert workspace.config_path.read_text() == before


def test_import_refuses_to_break_the_config(workspace, tmp_path):
    workspace.config_path.write_text("feeds: [{name: a, url: 'https://a.example/'}]\n")
    source = tmp_path / "subs.opml"
    source.write_text(opml('<outline text="B" xmlUrl="https://b.example/rss"/>'))
    result = workspace.cli("import", "opml", str(source), expect=2)
    assert "flow style" in result.stderr
    assert workspace.config_path.read_text() == "feeds: [{name: a, url: 'https://a.example/'}]\n"


@pytest.mark.corpus
def test_corpus_opml_lists_import_and_export_unchanged(workspace, tmp_path):
    files = sorted((CORPORA / "awesome-rss-feeds").rglob("*.opml"))
    files += sorted((CORPORA / "rsparser").rglob("*.opml"))
    if not files:
        pytest.skip("shared corpora not present")
    total = 0
    for path in files:
        listing = read_opml(path)
        assert listing.feeds or listing.skipped, path
        total += len(listing.feeds)
    assert total > 500

    # One whole list through the real commands: in, out, and the same names and URLs back.
    country = next(p for p in files if p.name == "Iran.opml" and "with_category" in str(p))
    workspace.write_config([])
    workspace.cli("import", "opml", str(country))
    exported = tmp_path / "back.opml"
    workspace.cli("export", "opml", "-o", str(exported))
    unique = list({f.url: (f.name, f.url) for f in reversed(read_opml(country).feeds)}.values())[::-1]
    assert sorted((f.name, f.url) for f in read_opml(exported).feeds) == sorted(unique)


def test_imported_text_is_never_read_as_an_environment_reference(workspace, tmp_path, monkeypatch):
    # A list from a stranger (or a site's <link rel=alternate>) naming ${SECRET} must not make the daemon
    # send the secret to the stranger's site: what is imported is read back as written.
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    workspace.config_path.write_text(HEADER)
    source = tmp_path / "subs.opml"
    source.write_text(
        opml(
            '<outline text="Costs $5 ${HOME}" '
            'xmlUrl="https://evil.example/rss?k=${SMTP_PASSWORD}&amp;p=$$x"/>'
        )
    )
    workspace.cli("import", "opml", str(source))
    feeds = {feed.name: feed for feed in load_config(workspace.config_path).feeds}
    assert feeds["Costs $5 ${HOME}"].url == "https://evil.example/rss?k=${SMTP_PASSWORD}&p=$$x"


def test_an_unusable_url_skips_its_outline_not_the_import(workspace, tmp_path):
    workspace.config_path.write_text(HEADER)
    source = tmp_path / "subs.opml"
    source.write_text(
        opml(
            '<outline text="Bracket" xmlUrl="http://[::1/rss"/>'
            '<outline text="Port" xmlUrl="https://port.example:99999/rss"/>'
            '<outline text="Good" xmlUrl="https://good.example/rss"/>'
        )
    )
    result = workspace.cli("import", "opml", str(source))
    assert "added 1 feed from" in result.stdout
    assert f"{source}:1: Bracket" in result.stderr and f"{source}:1: Port" in result.stderr
    assert [feed.name for feed in load_config(workspace.config_path).feeds] == ["Mine", "Good"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_list_in_a_wide_encoding_is_read_as_one_in_utf8(encoding):
    text = opml('<outline text="Tom & Jerry" xmlUrl="https://news.example/rss?cat=world&lang=en"/>').replace(
        "UTF-8", encoding.upper()
    )
    listing = parse_opml(text.encode(encoding), name="subs.opml")
    assert [(f.name, f.url) for f in listing.feeds] == [
        ("Tom & Jerry", "https://news.example/rss?cat=world&lang=en")
    ]
    declared = text.replace("?><opml", '?><!DOCTYPE opml [<!ENTITY a "aaaa">]><opml')
    with pytest.raises(OpmlError, match="declares XML entities"):
        parse_opml(declared.encode(encoding), name="subs.opml")


def test_export_writes_a_value_from_the_environment_as_its_name(workspace, tmp_path, monkeypatch):
    # check and the logs hide it; the exported list, made to be shared, showed the API key in clear.
    monkeypatch.setenv("WIRE_API_KEY", "sk-live-123456")
    workspace.config_path.write_text(
        "feeds:\n  - name: Wire\n    url: https://wire.example/rss?apikey=${WIRE_API_KEY}\n"
        "  - name: Open\n    url: https://open.example/rss\n"
    )
    exported = tmp_path / "out.opml"
    result = workspace.cli("export", "opml", "-o", str(exported))
    text = exported.read_text()
    assert "sk-live-123456" not in text and "apikey=${WIRE_API_KEY}" in text
    assert "https://open.example/rss" in text
    assert "1 feed address written with ${NAME} in place of values from the environment" in result.stderr


def test_export_hides_a_key_holding_another_variable_s_value_and_leaves_the_rest_as_written(
    workspace, tmp_path, monkeypatch
):
    # Each value was replaced back wherever it occurred: a version "2" inside the key left the key's other
    # characters in clear, and a section "news" became ${SECTION} in the host name too.
    monkeypatch.setenv("API_VERSION", "2")
    monkeypatch.setenv("API_KEY", "k2f9a2Zq27")
    monkeypatch.setenv("SECTION", "news")
    workspace.config_path.write_text(
        "feeds:\n  - name: Wire\n"
        "    url: https://news.example/rss?v=${API_VERSION}&s=${SECTION}&key=${API_KEY}\n"
    )
    exported = tmp_path / "out.opml"
    workspace.cli("export", "opml", "-o", str(exported))
    text = exported.read_text()
    assert "f9a" not in text and "Zq" not in text
    assert 'xmlUrl="https://news.example/rss?v=${API_VERSION}&amp;s=${SECTION}&amp;key=${API_KEY}"' in text
