"""Which news agency a text came from, read from its dateline, byline and credit lines.

Pure. Only the places where outlets credit an agency are read (the first few hundred characters, the
author field, the last few hundred characters), never the middle of the text: "Reuters reported" in the
fifth paragraph is a source, not a provenance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

HEAD_CHARS = 400
TAIL_CHARS = 400


@dataclass(frozen=True)
class AgencyInfo:
    name: str
    names: tuple[str, ...]
    """How outlets spell it in bylines and credits (matched as whole words)."""
    short: tuple[str, ...]
    """Abbreviations, matched only in a dateline "(AP) -" or a credit "- AFP" (too ambiguous elsewhere)."""
    domains: tuple[str, ...]
    """The agency's own sites: an article there is the agency's own text."""


AGENCIES: tuple[AgencyInfo, ...] = (
    AgencyInfo("Reuters", ("Reuters", "Thomson Reuters"), (), ("reuters.com",)),
    AgencyInfo("AP", ("Associated Press",), ("AP",), ("apnews.com", "ap.org")),
    AgencyInfo("AFP", ("Agence France-Presse", "Agence France Presse"), ("AFP",), ("afp.com",)),
    AgencyInfo("TASS", ("TASS", "ITAR-TASS", "ТАСС", "ИТАР-ТАСС"), (), ("tass.com", "tass.ru")),
    AgencyInfo(
        "IRNA",
        ("IRNA", "Islamic Republic News Agency", "ایرنا", "ايرنا", "إرنا", "خبرگزاری جمهوری اسلامی"),
        (),
        ("irna.ir",),
    ),
    AgencyInfo(
        "Interfax",
        ("Interfax", "Интерфакс", "ИНТЕРФАКС"),
        (),
        ("interfax.com", "interfax.ru", "interfax.com.ua"),
    ),
    AgencyInfo("Anadolu", ("Anadolu Agency", "Anadolu Ajansı", "Anadolu"), ("AA",), ("aa.com.tr",)),
    AgencyInfo("dpa", ("Deutsche Presse-Agentur",), ("dpa",), ("dpa.com",)),
    AgencyInfo("Xinhua", ("Xinhua", "新华社", "新華社"), (), ("xinhuanet.com", "news.cn")),
    AgencyInfo("Ukrinform", ("Ukrinform", "Укрінформ", "Укринформ"), (), ("ukrinform.net", "ukrinform.ua")),
    AgencyInfo("RIA Novosti", ("RIA Novosti", "РИА Новости"), (), ("ria.ru",)),
    AgencyInfo("Interfax-Ukraine", ("Interfax-Ukraine", "Інтерфакс-Україна", "Интерфакс-Украина"), (), ()),
    AgencyInfo("ISNA", ("Iranian Students' News Agency", "ISNA", "ایسنا", "ايسنا"), (), ("isna.ir",)),
    AgencyInfo("Tasnim", ("Tasnim News Agency", "Tasnim", "خبرگزاری تسنیم"), (), ("tasnimnews.com",)),
    AgencyInfo("Fars", ("Fars News Agency", "خبرگزاری فارس"), (), ("farsnews.ir",)),
    AgencyInfo("Mehr", ("Mehr News Agency", "خبرگزاری مهر"), (), ("mehrnews.com",)),
    AgencyInfo("EFE", ("Agencia EFE",), ("EFE",), ("efe.com",)),
    AgencyInfo("ANSA", ("ANSA",), (), ("ansa.it",)),
    AgencyInfo("Kyodo", ("Kyodo News", "Kyodo", "共同通信"), ("共同",), ("kyodonews.net",)),
    AgencyInfo("Yonhap", ("Yonhap", "연합뉴스"), (), ("yna.co.kr",)),
    AgencyInfo("PTI", ("Press Trust of India",), ("PTI",), ("ptinews.com",)),
    AgencyInfo("Bloomberg", ("Bloomberg News",), (), ("bloomberg.com",)),
)

_BY_NAME = {agency.name: agency for agency in AGENCIES}


@dataclass(frozen=True)
class Provenance:
    """An agency and the words that name it."""

    agency: str
    evidence: str
    where: str
    """dateline | byline | credit | site"""


def _alternation(values: tuple[str, ...]) -> str:
    return "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))


def _compile() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    full = _alternation(tuple(n for a in AGENCIES for n in a.names))
    every = _alternation(tuple(n for a in AGENCIES for n in a.names + a.short))
    # "MOSCOW, Sept 9 (Reuters) -", "KYIV (AP) —", "Tehran, IRNA -", "(AFP) -"; in the agencies' own
    # scripts: "МОСКВА, 12 сентября. /ТАСС/.", "تهران – ایرنا:", "新华社德黑兰9月12日电" (Xinhua, Tehran,
    # 12 September, "cable"), "【テヘラン共同】" (Kyodo, Tehran).
    dateline = re.compile(
        rf"(?:\((?P<a>{every})\)\s*[-–—:]|^[A-Z][A-Za-z .'’,-]{{1,60}}[,(]\s*(?P<b>{every})\)?\s*[-–—:]"
        rf"|^\s*(?P<c>{full})\s*[-–—:]"
        # The slashes follow the date's full stop: "Photographer/AP/Shutterstock", a photo's credit where
        # extraction keeps captions, is not a dateline.
        rf"|^[^\W\d_][\w .,]{{0,60}}\.\s?/(?P<d>{every})/"
        # "تهران – ایرنا:", and as the Persian agencies write it, "تهران- ایرنا- ": a space beside each dash
        # ("Mid-AA-rated" is a word, not a dateline).
        rf"|^[^\W\d_][\w ]{{1,40}}(?:\s[-–—]\s*|[-–—]\s)(?P<e>{every})(?:\s*[:،]|\s*[-–—]\s)"
        rf"|^\s*(?P<f>{full})[^\n]{{1,30}}?日[电電]"
        rf"|^\s*【[^】\n]{{1,30}}?(?P<g>{every})】)",
        re.MULTILINE,
    )
    # "By Jane Doe, Associated Press", "AFP", "Reuters staff"
    byline = re.compile(rf"(?<![\w-])(?P<a>{every})(?![\w-])")
    # "- Reuters", "(Reporting by ...; editing by ...)", "© 2024 The Associated Press", "Source: TASS",
    # "(with inputs from AFP)", "Copyright Agence France-Presse"; "Source:" in Russian, Ukrainian, Persian
    credit = re.compile(
        rf"(?:[-–—©]|[Ss]ource:|Источник:|Джерело:|منبع:|[Ww]ith (?:inputs|input|reporting) from|[Cc]opyright"
        rf"|\(c\))\s*(?:\d{{4}}\s*)?"
        rf"(?:[Tt]he\s+)?(?P<a>{every})(?![\w-])"
        rf"|(?<![\w-])(?P<b>{full})(?![\w-])[^.\n]{{0,40}}(?:contributed|reporting|all rights reserved)",
    )
    # In the first lines: "By The Associated Press", "By Jane Doe, Associated Press", or a line that is only
    # the agency's name ("Associated Press", "The Associated Press —").
    head_byline = re.compile(
        rf"\b[Bb]y\b[^\n|]{{0,80}}?(?<![\w-])(?P<a>{full})(?![\w-])"
        rf"|(?:^|\n)\s*(?:[Tt]he\s+)?(?P<b>{full})\s*[-–—]?\s*(?:$|\n)"
    )
    return dateline, byline, credit, head_byline


_DATELINE, _BYLINE, _CREDIT, _HEAD_BYLINE = _compile()
_REUTERS_CREDIT = re.compile(
    r"\((?:Reporting|Additional reporting) by [^)]{3,200}[Ee]diting by [^)]{3,200}\)"
)
_NAME_OF = {n.casefold(): a.name for a in AGENCIES for n in a.names + a.short}


def _named(match: re.Match[str]) -> str:
    text = next(g for g in match.groups() if g)
    return _NAME_OF[text.casefold()]


def detect_agency(body: str, *, author: str | None = None, url: str | None = None) -> Provenance | None:
    """The agency a text credits, if any.

    Args:
        body: the article text.
        author: the byline the feed or page gave.
        url: where the article was found; an agency's own site makes it the agency's text.

    Returns:
        The agency, the words that showed it and where they were; None when nothing credits an agency.
    """
    host = (urlsplit(url).hostname or "").lower() if url else ""
    for agency in AGENCIES:
        if any(host == d or host.endswith("." + d) for d in agency.domains):
            return Provenance(agency.name, host, "site")
    body = body or ""
    head = body[:HEAD_CHARS]
    if match := _DATELINE.search(head):
        return Provenance(_named(match), match.group(0).strip(), "dateline")
    if author and (match := _BYLINE.search(author[:300])):
        return Provenance(_named(match), author[:300], "byline")
    if match := _HEAD_BYLINE.search(head):
        return Provenance(_named(match), match.group(0).strip(), "byline")
    tail = body[-TAIL_CHARS:]
    if match := _CREDIT.search(tail):
        return Provenance(_named(match), match.group(0).strip(), "credit")
    if _REUTERS_CREDIT.search(tail):
        return Provenance("Reuters", "(Reporting by ... Editing by ...)", "credit")
    return None


def agency_domains(name: str) -> tuple[str, ...]:
    """The sites of the agency called ``name`` (empty when unknown)."""
    agency = _BY_NAME.get(name)
    return agency.domains if agency else ()
