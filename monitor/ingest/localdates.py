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
