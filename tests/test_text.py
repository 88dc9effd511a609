"""Tests for monitor.ingest.text: plain text from HTML fragments, and whitespace normalisation."""

from __future__ import annotations

import pytest

from monitor.ingest.text import html_to_text, normalize_whitespace


@pytest.mark.parametrize("fragment", [None, "", "   ", "\n\t\u00a0\n"])
def test_nothing_in_nothing_out(fragment):
    assert html_to_text(fragment) == ""


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("Plain words,   no markup.", "Plain words, no markup."),
        ("<p>One.</p><p>Two.</p>", "One.\n\nTwo."),
        ("Lead-in<p>Paragraph</p>tail", "Lead-in\n\nParagraph\n\ntail"),
        ("Line one<br>line two<br/>line three", "Line one\nline two\nline three"),
        ("in<b>line</b> <i>tags</i> <a href='/x'>join</a>ed", "inline tags joined"),
        ("<ul><li>alpha</li><li>beta</li></ul>", "alpha\n\nbeta"),
        ("<h2>Head</h2>Body text", "Head\n\nBody text"),
        ("<div><div><p>deep</p></div></div><div>next</div>", "deep\n\nnext"),
        (
            "<table><tr><th>Port</th><th>Ships</th></tr><tr><td>Leith</td><td>4</td></tr></table>",
            "Port Ships\n\nLeith 4",
        ),
        ("Before<hr>after", "Before\n\nafter"),
        ("<blockquote>Quoted</blockquote>said", "Quoted\n\nsaid"),
    ],
)
def test_blocks_become_paragraphs_and_inline_tags_vanish(fragment, expected):
    assert html_to_text(fragment) == expected


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("Fish &amp; chips", "Fish & chips"),
        ("caf&eacute; &#8217;s &#x2014; done", "café ’s — done"),
        ("non&nbsp;breaking", "non breaking"),
        ("&lt;b&gt;not a tag&lt;/b&gt;", "<b>not a tag</b>"),
        ("Tom &amp;amp; Jerry", "Tom &amp; Jerry"),  # one level of escaping is undone, not two
        ("3 < 4 and 5 > 2", "3 < 4 and 5 > 2"),
        ("AT&T", "AT&T"),
    ],
)
def test_entities_are_decoded_once(fragment, expected):
    assert html_to_text(fragment) == expected


def test_scripts_styles_and_comments_are_not_text():
    fragment = (
        "<style>p { color: red }</style><p>Shown</p><script>var hidden = 1;</script>"
        "<noscript>Enable JS</noscript><!-- a comment --><template><p>later</p></template>after"
    )
    assert html_to_text(fragment) == "Shown\n\nafter"


def test_a_whole_document_gives_its_body_text():
    document = "<!DOCTYPE html><html><head><title>Tab title</title></head><body><p>Body</p></body></html>"
    assert html_to_text(document) == "Body"


def test_characters_lxml_refuses_do_not_lose_the_text():
    assert html_to_text("a\x00b <b>bold</b>\x0bc") == "ab bold c"
    assert html_to_text("broken \ud83d surrogate <i>kept</i>") == "broken \ufffd surrogate kept"
    assert html_to_text("\ufeffBOM &amp; text") == "BOM & text"
    assert html_to_text("x\uffff<b>y</b>") == "xy"


def test_markup_that_is_only_text():
    assert html_to_text("<p></p><div> </div>") == ""
    assert html_to_text("<img src='a.png' alt='picture'>") == ""


def test_long_unclosed_markup_still_gives_text():
    fragment = "<div><p>" * 200 + "deep text" + "<span>more" * 50
    assert html_to_text(fragment).split() == ["deep", "textmore" + "more" * 49]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  a   b\t\tc  ", "a b c"),
        ("a\u00a0\u2009\u3000b", "a b"),
        ("line one  \n   line two", "line one\nline two"),
        ("para one\n\n\n\n   \n\npara two", "para one\n\npara two"),
        ("windows\r\nline\rends", "windows\nline\nends"),
        ("\n\n  padded  \n\n", "padded"),
        ("", ""),
    ],
)
def test_normalize_whitespace(text, expected):
    assert normalize_whitespace(text) == expected


def test_normalize_whitespace_is_idempotent():
    text = " x \n\n\n y\t z \r\n"
    once = normalize_whitespace(text)
    assert normalize_whitespace(once) == once


def test_html_to_text_output_is_normalized():
    out = html_to_text("<p>  a  </p>\n\n\n<p>\tb </p><br><br><br>c")
    assert out == normalize_whitespace(out)
