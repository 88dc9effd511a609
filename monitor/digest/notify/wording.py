"""How a digest words and trims what came from a feed, shared by the templates and the Slack builder."""

from __future__ import annotations

import re
import textwrap
import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote
from zoneinfo import ZoneInfo

from monitor.runtime.plurals import plural

if TYPE_CHECKING:  # content uses plural() from here, so the item's type is for the annotation only
    from monitor.digest.notify.content import DigestContent, DigestItem, QuietSource, Report, SourceHealth

MAX_HEADLINE = 200  # characters; longer titles are cut with "…"
# Columns of the plain-text email: what mail readers and terminals show without wrapping it again.
TEXT_WIDTH = 76


_BREAKS = re.compile("[\x00-\x1f\x7f\u2028\u2029]")
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# What a URL must not show as it is: whitespace (a feed's link "https://a.test/x FAKE LINE: ..." was shown
# with the words after it), controls, and the invisible characters that reorder or hide text (U+202E showed
# the rest of the address reversed).
_URL_UNSHOWABLE = re.compile(
    "[\\s\x00-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)


def without_bidi_controls(text: str) -> str:
    """``text`` without the embeddings, overrides and isolates of bidirectional text (see ``one_line``)."""
    return _BIDI_CONTROLS.sub("", text)


def one_line(text: str | None, limit: int = MAX_HEADLINE) -> str:
    """``text`` on one line (no CR/LF, tabs or control characters), cut at ``limit`` with "…".

    The embeddings, overrides and isolates of bidirectional text go too: an override in a feed's headline
    (U+202E) reversed how the rest of the line read, the outlet and the times after it included, in the
    email, its subject and Slack. The right-to-left and left-to-right marks stay: they only lean a
    character one way, as Arabic and Hebrew headlines need.
    """
    flat = " ".join(_BREAKS.sub(" ", without_bidi_controls(text or "")).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def wrapped(text: str, first: str = "", rest: str | None = None) -> str:
    """One line of the plain-text email wrapped at ``TEXT_WIDTH``, the lines after the first set in by ``rest``
    (``first``'s width in spaces when not given).

    A 360-character excerpt on one line was wrapped by the reader at the screen's edge, back at the margin and
    not under its item, and a screen reader's line by line went through it in one breath. Words longer than
    the width (an address) are never split.
    """
    indent = " " * len(first) if rest is None else rest
    return textwrap.fill(
        text,
        TEXT_WIDTH,
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def outlet_name(name: str | None) -> str:
    """An outlet's name on one line, to stand before a date, a colon or a link in a left-to-right line.

    A name in Arabic, Persian or Hebrew letters is set between left-to-right marks: otherwise the bidirectional
    algorithm took the day of the date after it (" · 7 Dec 05:23") into the name's right-to-left run, and
    "7" was shown to the left of the name, apart from its month; and a plain-text reader that sets each line
    in the direction of its first letter laid the whole line right to left.
    """
    shown = one_line(name)
    if any(unicodedata.bidirectional(char) in ("R", "AL") for char in shown):
        return f"\u200e{shown}\u200e"
    return shown


def local_time(moment: datetime | None, zone: str, now: datetime | None = None) -> str:
    """ "21 Nov 07:40" in the digest's time zone; "21 Nov 2025 07:40" when not in the year of ``now``."""
    return _local(moment, zone, now, "%-d %b{year} %H:%M")


def local_day(moment: datetime | None, zone: str, now: datetime | None = None) -> str:
    """ "Mon 2 Dec" in the digest's time zone; "Mon 2 Dec 2025" when not in the year of ``now``."""
    return _local(moment, zone, now, "%a %-d %b{year}")


def _local(moment: datetime | None, zone: str, now: datetime | None, pattern: str) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(zone))
    same_year = now is None or now.astimezone(ZoneInfo(zone)).year == local.year
    return local.strftime(pattern.format(year="" if same_year else " %Y"))


def coverage_line(item: DigestItem, zone: str, now: datetime) -> str:
    """ "Update · first reported Mon 2 Dec; 7 reports from 5 outlets so far", or "" without earlier reports."""
    coverage = item.coverage
    if coverage is None:
        return ""
    reports = f"{coverage.reports} report{'s' if coverage.reports != 1 else ''}"
    outlets = f"{coverage.outlets} outlet{'s' if coverage.outlets != 1 else ''}"
    line = f"first reported {local_day(coverage.first_reported, zone, now)}; {reports} from {outlets} so far"
    if coverage.last_sent is not None:
        # With its time: alerts and digests go out on the same day, and "last sent Mon 7 Dec" did not say which.
        last_sent = _local(coverage.last_sent, zone, now, "%a %-d %b{year} %H:%M")
        line = f"Update · {line}; last sent {last_sent}"
    return line


def inbox_preview(content: DigestContent) -> str:
    """What a mail app shows beside the subject in the inbox: "12 new stories, 1 update: Iran–Russia arms (8),
    Sanctions (5)". Without it the list showed "Digest · morning · 2 Mar 07:00 (Europe/Berlin)", what the
    subject and the date already say."""
    topics = ", ".join(f"{one_line(s.topic, 60)} ({len(s.items) + s.more})" for s in content.sections)
    return f"{content.headline_count()}: {topics}" if topics else content.headline_count()


def carried_note(report: Report) -> str:
    """Beside a write-up with new wire copies: "wire copy carried by 3 more outlets", or, for one sent
    before and listed again for its copies alone, "sent before; reprinted since by 3 more outlets"."""
    outlets = plural(report.carried_by, "more outlet")
    return (
        f"sent before; reprinted since by {outlets}"
        if report.sent_before
        else f"wire copy carried by {outlets}"
    )


def safe_url(url: str) -> str:
    """``url`` if it is http(s), else "#": a feed could hand us javascript: links. Whitespace, controls
    and invisible characters in it are percent-encoded (``shown_url``)."""
    return shown_url(url) if re.match(r"(?i)^https?://", url or "") else "#"


def shown_url(url: str | None) -> str:
    """``url`` as it can be shown and followed: whitespace, controls and the invisible characters that
    reorder or hide text percent-encoded, as a browser would send them; one word, whatever a feed wrote."""
    return _URL_UNSHOWABLE.sub(lambda match: quote(match.group(), safe=""), url or "")


def quiet_source_line(source: QuietSource, zone: str, now: datetime) -> str:
    """ "Wire World: failing since Mon 2 Dec (http_5xx)", "Old blog: gone (410) since ...", "TASS: lists
    nothing new since Wed 20 Nov"; the name flattened to one line."""
    since = local_day(source.since, zone, now)
    if source.state == "failing":
        what = f"failing since {since}" if since else "failing, never polled with success"
        if source.detail:
            what += f" ({source.detail})"
    elif source.state == "gone":
        what = f"gone (410) since {since}" if since else "gone (410)"
    else:
        what = f"lists nothing new since {since}" if since else "lists nothing new"
    return f"{one_line(source.name, 80)}: {what}"


def quiet_sources_heading(health: SourceHealth) -> str:
    """ "Not heard from: 3 of 40 feeds" """
    return f"Not heard from: {health.quiet_count} of {plural(health.feeds, 'feed')}"


def quiet_sources_more(health: SourceHealth) -> str:
    """ "and 2 more: `monitor feeds` lists every feed's state" ("" when every quiet feed is listed)."""
    return f"and {health.more} more: `monitor feeds` lists every feed's state" if health.more else ""
