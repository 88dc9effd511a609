"""The HTML digest as a phone (375 px) and a desktop (1280 px) show it: headless Chromium screenshots to
PNG, to be looked at. Skipped where Chromium is not installed. ``MONITOR_SCREENSHOT_DIR`` keeps them."""

from __future__ import annotations

import os
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.notify.render import Coverage, DigestContent, DigestItem, Excerpt, Report, TopicSection, render

CHROMIUM = Path("/usr/bin/chromium")
PERIOD = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def sample() -> DigestContent:
    def item(n: int, headline: str, excerpt: str, words: list[str], outlets: int = 0, **extra) -> DigestItem:
        spans = tuple(sorted((excerpt.find(w), excerpt.find(w) + len(w)) for w in words if w in excerpt))
        copies = tuple(Report(f"Outlet {k}", f"https://o{k}.test/{n}") for k in range(outlets))
        return DigestItem(headline, f"https://news.test/{n}", "Wire One", PERIOD - timedelta(hours=n),
                          Excerpt(excerpt, spans), 9.0 - n, (n,), copies=copies, **extra)

    arms = (
        item(1, "Tehran ships short-range missiles to Moscow, two officials say",
             "Two Western officials said Tehran shipped a first batch of short-range missiles to Moscow. "
             "The shipment left from a Caspian port late last week.", ["missiles", "Tehran", "Moscow"], 6,
             writeups=(Report("Reuters", "https://reuters.test/1", "Iran sent missiles to Russia, sources say"),
                       Report("Meduza", "https://meduza.test/2", "Moscow received Iranian missiles")),
             topics=("Iran–Russia arms", "Sanctions")),
        item(6, "Foreign ministry in Tehran denies the shipment",
             "The foreign ministry in Tehran said no missiles had been sent to Russia.", ["missiles"],
             writeups=(Report("Kyiv Independent", "https://kyiv.test/3", "Kyiv says missiles already used"),),
             coverage=Coverage(PERIOD - timedelta(days=2), 7, 5, PERIOD - timedelta(days=1))),
        item(2, "Россия получила партию иранских ракет, сообщили источники",
             "Россия получила от Ирана партию ракет малой дальности. Поставки начались летом.", ["ракет"], 2),
        item(3, "گزارش ارسال موشک‌های ایران به روسیه را سخنگو رد کرد",
             "گزارش‌ها درباره ارسال موشک‌های بالستیک ایران به روسیه را سخنگوی وزارت خارجه رد کرد.", ["موشک"]),
        item(4, "<script>alert(1)</script> *bold* " + "An extremely long headline " * 8,
             "Averyveryverylongwordwithoutanyspacesthatcouldpushthelayoutwiderthanthescreen" * 2, []),
    )
    sanctions = (item(5, "New sanctions target drone parts suppliers",
                      "Sanctions announced on Monday target suppliers of drone parts.", ["Sanctions"], 1),)
    return DigestContent("morning", "digest", PERIOD, "Europe/Berlin",
                         (TopicSection("Iran–Russia arms transfers", arms, 7, (), "iran-russia-arms"),
                          TopicSection("Sanctions", sanctions, name="sanctions")))


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize(("label", "width"), [("phone", 375), ("desktop", 1280)])
def test_html_digest_screenshots(tmp_path, label, width):
    out = Path(os.environ.get("MONITOR_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page = tmp_path / "digest.html"
    page.write_text(render(sample()).html, encoding="utf-8")
    shot = out / f"digest-{label}.png"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
                    f"--screenshot={shot}", f"--window-size={width},1600", page.as_uri()],
                   check=True, capture_output=True, timeout=60)
    assert png_size(shot) == (width, 1600)
