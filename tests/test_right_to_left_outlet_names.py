"""An outlet named in Arabic or Persian letters, in the digest's left-to-right lines: the date after it stays
after it. Without left-to-right marks around the name, the bidirectional algorithm took the day of the date
(" · 7 Dec 05:23") into the name's right-to-left run and showed "7" on the far side of the name, apart
from its month; a colon and a number after the name went the same way."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from monitor.digest.notify.render import DigestContent, DigestItem, Excerpt, Report, TopicSection, render

PERIOD = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
PARS = "خبرگزاری پارس"
IRNA = "ایرنا"
LRM = "\u200e"


def digest(outlet: str, writeup_outlet: str, copy_outlet: str):
    item = DigestItem(
        headline="ایران موشک‌های فتح-۳۶۰ را به روسیه فرستاد",
        url="https://pars.test/news/1",
        outlet=outlet,
        published_at=datetime(2026, 12, 7, 5, 23, tzinfo=UTC),
        excerpt=Excerpt("منابع غربی می‌گویند ایران موشک فرستاد.", ()),
        score=50.0,
        article_ids=(1, 2, 3),
        writeups=(Report(writeup_outlet, "https://irna.test/2", "17 killed in a strike, the ministry said"),),
        copies=(Report(copy_outlet, "https://copy.test/3"),),
    )
    return render(DigestContent("morning", "digest", PERIOD, "UTC", (TopicSection("arms", (item,)),)))


def test_a_right_to_left_outlet_is_set_apart_from_the_date_and_title_after_it():
    rendered = digest(PARS, IRNA, IRNA)
    marked_pars, marked_irna = f"{LRM}{PARS}{LRM}", f"{LRM}{IRNA}{LRM}"
    assert f"\n  {marked_pars} · 7 Dec 05:23" in rendered.text
    assert (
        f"- {marked_irna}: 17 killed" in rendered.text
        and f"- {marked_irna}: https://copy.test/3" in rendered.text
    )
    assert f">{marked_pars} · 7 Dec 05:23" in rendered.html and f">{marked_irna}:</span>" in rendered.html
    slack = json.dumps([message.payload for message in rendered.slack], ensure_ascii=False)
    assert f"{marked_pars} · 7 Dec 05:23" in slack and f"• {marked_irna}: <https://irna.test/2|" in slack


def test_left_to_right_outlets_are_left_as_they_are():
    rendered = digest("Reuters", "ТАСС", "The Courier")
    assert LRM not in rendered.text and LRM not in rendered.html
    assert "\n  Reuters · 7 Dec 05:23" in rendered.text and "- ТАСС: 17 killed" in rendered.text
