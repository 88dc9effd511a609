"""Article pages in the legacy charsets of Persian and Russian sites, labelled by the HTTP header or by a
<meta> tag only, are read in that charset; and Persian text keeps its zero-width non-joiners, so a watchlist
stem finds its inflected forms in the body."""

from __future__ import annotations

import gzip
from datetime import timedelta
from html import escape

import yaml
from support.httpserver import Route
from support.news import BASE_TIME, Entry, rss

from monitor.ingest.extract import extract_page
from monitor.ingest.parse import parse_feed

# Windows-1256 has no Persian yeh (U+06CC): sites in it write the Arabic one, as here.
PERSIAN = [
    "تهران – ایرنا: سخنگوی وزارت امور خارجه ایران روز پنجشنبه گزارش‌ها درباره ارسال موشک‌های بالستیک به روسیه "
    "را رد کرد.",
    "وی گفت جمهوری اسلامی ایران به هیچ یک از طرفین درگیری در اوکراین سلاح نمی‌دهد و این ادعاها بی‌اساس است.",
    "مقام‌های غربی پیش‌تر ادعا کرده بودند که نخستین محموله موشک‌های کوتاه‌برد به روسیه تحویل داده شده است.",
    "آمریکا و متحدانش هشدار داده‌اند که انتقال این موشک‌ها تحریم‌های تازه‌ای علیه تهران در پی خواهد داشت.",
]
PERSIAN_1256 = [p.replace("ی", "ي") for p in PERSIAN]
RUSSIAN = [
    "Иран передал России первую партию баллистических ракет малой дальности, сообщили в четверг западные "
    "официальные лица.",
    "По их словам, поставка состоялась через несколько недель после того, как российские военные прошли "
    "обучение на пусковых установках в Иране.",
    "В Кремле отказались комментировать эти сообщения. Представитель МИД Ирана заявил, что Тегеран не "
    "поставляет оружие ни одной из сторон конфликта.",
]


def page(paragraphs: list[str], *, meta: str | None, lang: str) -> str:
    head = f'<meta http-equiv="Content-Type" content="text/html; charset={meta}">' if meta else ""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head>{head}<title>خبر</title></head><body>'
        f"<main><article>{body}</article></main></body></html>"
    )


def test_a_page_is_read_in_the_charset_its_meta_tag_names():
    html = page(PERSIAN_1256, meta="windows-1256", lang="fa").encode("cp1256")
    for content_type in ("", "text/html", "text/html; charset=ISO-8859-1"):  # none, or a server's default
        extracted = extract_page(html, "http://127.0.0.1/a", content_type)
        assert extracted is not None and extracted.text.startswith("تهران – ايرنا"), content_type


def test_a_page_is_read_in_the_charset_its_header_names():
    html = page(RUSSIAN, meta=None, lang="ru").encode("koi8-r", "xmlcharrefreplace")
    extracted = extract_page(html, "http://127.0.0.1/a", "text/html; charset=KOI8-R")
    assert extracted is not None and extracted.text.startswith("Иран передал России")


def test_a_compressed_page_its_server_did_not_say_was_compressed_is_still_read():
    # Left to the extractor, which unpacks it: decoded in the label's charset first, it was noise.
    html = gzip.compress(page(PERSIAN_1256, meta="windows-1256", lang="fa").encode("cp1256"))
    extracted = extract_page(html, "http://127.0.0.1/a", "text/html; charset=windows-1256")
    assert extracted is not None and "ايرنا" in extracted.text


def test_persian_text_keeps_its_zero_width_non_joiners():
    extracted = extract_page(page(PERSIAN, meta="utf-8", lang="fa").encode(), "http://127.0.0.1/a")
    assert extracted is not None and "موشک\u200cهای" in extracted.text


def test_polled_pages_in_legacy_charsets_are_stored_readable_and_tagged(web, workspace):
    served = {
        "meta": (page(PERSIAN_1256, meta="windows-1256", lang="fa").encode("cp1256"), "text/html"),
        "header": (
            page(PERSIAN_1256, meta=None, lang="fa").encode("cp1256"),
            "text/html; charset=windows-1256",
        ),
        "utf8": (page(PERSIAN, meta="utf-8", lang="fa").encode(), "text/html; charset=utf-8"),
    }
    entries = []
    for i, (slug, (body, content_type)) in enumerate(served.items()):
        web.set(f"/news/{slug}", Route(body, headers={"Content-Type": content_type}))
        url = web.url(f"/news/{slug}")
        entries.append(Entry(slug, f"خبر {slug}", "خبر", url, url, BASE_TIME + timedelta(minutes=i)))
    web.set(
        "/feed.xml",
        Route(rss("ایرنا", web.url("/"), entries), headers={"Content-Type": "application/rss+xml"}),
    )
    config = {
        "settings": {"host_delay": "0s", "extract_workers": 0, "timeout": "5s"},
        "feeds": [{"name": "ایرنا", "url": web.url("/feed.xml")}],
        "watchlist": {"topics": [{"name": "missiles", "query": "موشک* AND روسیه"}]},
    }
    workspace.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    workspace.cli("poll")
    bodies = {article["url"].rsplit("/", 1)[1]: article["body"] for article in workspace.json("articles")}
    assert bodies["meta"].startswith("تهران – ايرنا") and bodies["header"].startswith("تهران – ايرنا")
    assert "موشک\u200cهای" in bodies["utf8"]
    tagged = {match["url"].rsplit("/", 1)[1] for match in workspace.json("matches")}
    assert tagged == {"meta", "header", "utf8"}  # the titles name neither: the bodies' موشک‌ها do


def test_an_unlabelled_page_in_arabic_letters_is_read_in_windows_1256():
    # No label, or a server's default: the detector took the ZWNJ's byte for noise, and read some such pages
    # (a paragraph of these alone) as windows-1251, Cyrillic gibberish.
    for paragraph in PERSIAN_1256:
        html = page([paragraph], meta=None, lang="fa").encode("cp1256")
        for content_type in ("", "text/html; charset=ISO-8859-1"):
            extracted = extract_page(html, "http://127.0.0.1/a", content_type)
            assert extracted is not None and extracted.text == paragraph, content_type


def test_an_unlabelled_feed_in_arabic_letters_is_read_in_windows_1256():
    items = "".join(
        f"<item><title>{escape(p[:60])}</title><description>{escape(p)}</description></item>"
        for p in PERSIAN_1256
    )
    body = f"<rss version='2.0'><channel><title>t</title><language>fa</language>{items}</channel></rss>"
    parsed = parse_feed(body.encode("cp1256"), url="http://127.0.0.1/fa.xml")
    assert [item.title for item in parsed.items] == [p[:60].strip() for p in PERSIAN_1256]


def test_an_unlabelled_russian_page_is_still_left_to_the_detector():
    # Russian pages come in KOI8-R as well as windows-1251: the declared language does not choose.
    html = page(RUSSIAN, meta=None, lang="ru").encode("koi8-r", "xmlcharrefreplace")
    extracted = extract_page(html, "http://127.0.0.1/a", "")
    assert extracted is not None and extracted.text.startswith("Иран передал России")


def test_a_persian_page_in_utf8_with_a_stray_byte_is_not_read_as_windows_1256():
    # A page labelled UTF-8, and in UTF-8 but for one bad byte (a CMS's slip, a body cut mid-letter): its
    # language names no charset, its label does.
    html = page(PERSIAN, meta="utf-8", lang="fa").encode("utf-8").replace(b"</main>", b"\xd9</main>")
    for content_type in ("", "text/html; charset=utf-8"):
        extracted = extract_page(html, "http://127.0.0.1/a", content_type)
        assert extracted is not None and extracted.text.startswith(PERSIAN[0][:40]), content_type


def test_a_feed_in_arabic_letters_under_a_servers_default_charset_is_read_in_windows_1256():
    # ISO-8859-1 in the Content-Type is the server's default, no label, as for a page: read in it, the feed's
    # Persian was stored as Latin gibberish.
    items = "".join(
        f"<item><title>{escape(p[:60])}</title><description>{escape(p)}</description></item>"
        for p in PERSIAN_1256
    )
    body = f"<rss version='2.0'><channel><title>t</title><language>fa</language>{items}</channel></rss>"
    for content_type in ("text/xml; charset=ISO-8859-1", "application/rss+xml; charset=windows-1252"):
        parsed = parse_feed(
            body.encode("cp1256"), url="http://127.0.0.1/fa.xml", headers={"content-type": content_type}
        )
        assert [item.title for item in parsed.items] == [p[:60].strip() for p in PERSIAN_1256], content_type
