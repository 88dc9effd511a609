"""The HTML digest as a phone (375 px) and a desktop (1280 px) show it: headless Chromium screenshots to
PNG, to be looked at. Skipped where Chromium is not installed. ``MONITOR_SCREENSHOT_DIR`` keeps them."""

from __future__ import annotations

import os
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.digest.notify.render import (
    Coverage,
    DigestContent,
    DigestItem,
    Excerpt,
    Report,
    TopicSection,
    render,
)

CHROMIUM = Path("/usr/bin/chromium")
PERIOD = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def sample() -> DigestContent:
    def item(n: int, headline: str, excerpt: str, words: list[str], outlets: int = 0, **extra) -> DigestItem:
        spans = tuple(sorted((excerpt.find(w), excerpt.find(w) + len(w)) for w in words if w in excerpt))
        copies = tuple(Report(f"Outlet {k}", f"https://o{k}.test/{n}") for k in range(outlets))
        return DigestItem(
            headline,
            f"https://news.test/{n}",
            "Wire One",
            PERIOD - timedelta(hours=n),
            Excerpt(excerpt, spans),
            9.0 - n,
            (n,),
            copies=copies,
            **extra,
        )

    arms = (
        item(
            1,
            "Tehran ships short-range missiles to Moscow, two officials say",
            "Two Western officials said Tehran shipped a first batch of short-range missiles to Moscow. "
            "The shipment left from a Caspian port late last week.",
            ["missiles", "Tehran", "Moscow"],
            6,
            writeups=(
                Report("Reuters", "https://reuters.test/1", "Iran sent missiles to Russia, sources say"),
                Report("Meduza", "https://meduza.test/2", "Moscow received Iranian missiles"),
            ),
            topics=("Iran–Russia arms", "Sanctions"),
        ),
        item(
            6,
            "Foreign ministry in Tehran denies the shipment",
            "The foreign ministry in Tehran said no missiles had been sent to Russia.",
            ["missiles"],
            writeups=(Report("Kyiv Independent", "https://kyiv.test/3", "Kyiv says missiles already used"),),
            coverage=Coverage(PERIOD - timedelta(days=2), 7, 5, PERIOD - timedelta(days=1)),
        ),
        item(
            2,
            "Россия получила партию иранских ракет, сообщили источники",
            "Россия получила от Ирана партию ракет малой дальности. Поставки начались летом.",
            ["ракет"],
            2,
        ),
        item(
            3,
            "گزارش ارسال موشک‌های ایران به روسیه را سخنگو رد کرد",
            "گزارش‌ها درباره ارسال موشک‌های بالستیک ایران به روسیه را سخنگوی وزارت خارجه رد کرد.",
            ["موشک"],
        ),
        item(
            4,
            "<script>alert(1)</script> *bold* " + "An extremely long headline " * 8,
            "Averyveryverylongwordwithoutanyspacesthatcouldpushthelayoutwiderthanthescreen" * 2,
            [],
        ),
    )
    sanctions = (
        item(
            5,
            "New sanctions target drone parts suppliers",
            "Sanctions announced on Monday target suppliers of drone parts.",
            ["Sanctions"],
            1,
        ),
    )
    return DigestContent(
        "morning",
        "digest",
        PERIOD,
        "Europe/Berlin",
        (
            TopicSection("Iran–Russia arms transfers", arms, 7, (), "iran-russia-arms"),
            TopicSection("Sanctions", sanctions, name="sanctions"),
        ),
    )


def readme_sample() -> DigestContent:
    """A morning after a story developed overnight: one new story, one update (the README's picture)."""

    def item(n, headline, outlet, excerpt, words, **extra) -> DigestItem:
        spans = tuple(sorted((excerpt.find(w), excerpt.find(w) + len(w)) for w in words if w in excerpt))
        return DigestItem(
            headline,
            f"https://news.test/{n}",
            outlet,
            PERIOD - timedelta(hours=n),
            Excerpt(excerpt, spans),
            80.0 - n,
            (n,),
            **extra,
        )

    update = item(
        1,
        "Iran denies shipping Fath-360 missiles to Russia",
        "Kyiv Ledger",
        "Iran's foreign ministry denied on Tuesday that it had shipped Fath-360 ballistic missiles to "
        "Russia, calling reports of a consignment from Amirabad to Astrakhan propaganda.",
        ["Iran", "Fath-360", "missiles", "Russia"],
        writeups=(
            Report(
                "Eastern Observer",
                "https://observer.test/2",
                "Russian foreign ministry calls Fath-360 reports a provocation",
            ),
        ),
        copies=(Report("The Courier", "https://courier.test/3"),),
        coverage=Coverage(PERIOD - timedelta(days=1, hours=3), 6, 5, PERIOD - timedelta(days=1)),
    )
    new = item(
        2,
        "Kremlin confirms talks on Su-35 jets for Tehran",
        "Wire Agency",
        "Russia and Iran are negotiating the delivery of Su-35 fighter jets to Tehran, the Kremlin said, "
        "the first official confirmation of the deal.",
        ["Russia", "Iran", "delivery", "Su-35", "Tehran"],
        writeups=(Report("Defence Weekly", "https://defence.test/4", "Su-35 deal for Iran moves ahead"),),
        copies=tuple(
            Report(name, f"https://{n}.test/5")
            for n, name in enumerate(("The Courier", "Gulf Times", "Evening Post"))
        ),
        topics=("Iran–Russia arms transfers", "Sanctions"),
    )
    return DigestContent(
        "morning",
        "digest",
        PERIOD,
        "Europe/Berlin",
        (TopicSection("Iran–Russia arms transfers", (new, update), name="iran-russia-arms"),),
    )


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize(
    ("label", "width", "content"),
    [("phone", 375, sample), ("desktop", 1280, sample), ("readme", 640, readme_sample)],
)
def test_html_digest_screenshots(tmp_path, label, width, content):
    out = Path(os.environ.get("MONITOR_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page = tmp_path / "digest.html"
    page.write_text(render(content()).html, encoding="utf-8")
    shot = out / f"digest-{label}.png"
    height = 600 if label == "readme" else 1600
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            f"--window-size={width},{height}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert png_size(shot) == (width, height)
