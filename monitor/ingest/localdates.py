"""RFC 822 dates written with the day and month names of the feed's language ("Seg, 24 Set 2018 19:42:40
-0300", "Mié, 03 Ene 2018", "mar., 02 oct. 2018"), as many Portuguese, Spanish, French, German and Italian
feeds write them. feedparser reads only English names: such an entry was undated, shown in digests at the
moment it was found and counted as news of today. Registered with feedparser as one more date handler."""

from __future__ import annotations

import re
import time

import feedparser
from feedparser.datetimes import _parse_date_rfc822

# Month names and abbreviations (lower case, accents kept and dropped), pt, es, fr, de, it, nl.
_MONTHS = {
    1: "jan janeiro ene enero janv janvier januar jän jänner gen gennaio januari",
    2: "fev fevereiro feb febrero févr fevr février fevrier februar febbraio februari",
    3: "mar março marco marzo mars märz maerz mrt maart",
    4: "abr abril avr avril apr april aprile",
    5: "mai maio may mayo mai mag maggio mei",
    6: "jun junho junio juin juni giu giugno",
    7: "jul julho julio juil juillet juli lug luglio",
    8: "ago agosto août aout aug august",
    9: "set setembro sep sept septiembre setiembre septembre september settembre",
    10: "out outubro oct octubre octobre okt oktober ott ottobre",
    11: "nov novembro noviembre novembre november",
    12: "dez dezembro dic diciembre déc dec décembre decembre dezember dicembre",
}
_ENGLISH = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_OF = {name: number for number, names in _MONTHS.items() for name in names.split()}
# An optional weekday word, the day, a month word, the year, then the rest (time and zone) as RFC 822 has it.
_LOCAL = re.compile(r"^\s*(?:[^\W\d]+\.?,?\s+)?(\d{1,2})\.?\s+([^\W\d]+)\.?,?\s+(\d{4})(.*)$")


def parse_local_rfc822(value: str) -> time.struct_time | None:
    match = _LOCAL.match(value or "")
    if not match:
        return None
    day, month, year, rest = match.groups()
    number = _MONTH_OF.get(month.lower())
    if number is None:
        return None
    return _parse_date_rfc822(f"{day} {_ENGLISH[number]} {year}{rest}")


feedparser.registerDateHandler(parse_local_rfc822)


# Zone abbreviations that feedparser does not know, as the outlets of their zones write them, in minutes east
# of UTC. feedparser reads an abbreviation it does not know as UTC, without a word: "19:42:40 MSK" was stored
# as 19:42 UTC, three hours after its publication (IRST three and a half), and a European "CET" an hour
# late. Only the unambiguous ones: "IST" (India, Ireland, Israel) and "CST" (feedparser's US Central, also
# China's) are left as they are read.
_ZONE_MINUTES = {
    "msk": 180,  # Moscow (since October 2014)
    "irst": 210,  # Iran
    "irdt": 270,  # Iran's summer time, until 2022
    "trt": 180,  # Turkey
    "wet": 0,
    "west": 60,
    "bst": 60,  # British Summer Time
    "cet": 60,
    "cest": 120,
    "eet": 120,
    "eest": 180,
    "pkt": 300,
    "npt": 345,
    "hkt": 480,
    "sgt": 480,
    "awst": 480,
    "jst": 540,
    "kst": 540,
    "acst": 570,
    "acdt": 630,
    "aest": 600,
    "aedt": 660,
    "nzst": 720,
    "nzdt": 780,
}
# The date and time, then a zone word alone at the end.
_ABBREVIATED = re.compile(r"^(.*\d:\d\d(?::\d\d)?)\s+([A-Za-z]{3,4})\s*$")


def parse_zone_abbreviation(value: str) -> time.struct_time | None:
    match = _ABBREVIATED.match(value or "")
    if not match or (minutes := _ZONE_MINUTES.get(match.group(2).lower())) is None:
        return None
    hours, rest = divmod(minutes, 60)
    written = f"{match.group(1)} +{hours:02d}{rest:02d}"
    return parse_local_rfc822(written) or _parse_date_rfc822(written)


feedparser.registerDateHandler(parse_zone_abbreviation)
