"""Three mornings of a digest read in Russian, Persian and Arabic, end to end. Five outlets on five loopback
hosts, in windows-1251, windows-1256 and UTF-8: a TASS report and its reprint, a Persian write-up with the
zero-width non-joiners of careful Persian, IRNA's denial in its own dateline style, a Persian outlet that
writes its words joined and its letters Arabic, an Arabic write-up, and a Kremlin reaction on the third day.
After each day's poll the real CLI sends the digest by email (aiosmtpd) and to Slack (a local receiver).

What the analyst must read: the reprint collapsed under the TASS report, the Persian story back as an
update (IRNA named as the agency), the joined spelling found by a term written with the ZWNJ, outlets in
right-to-left letters set apart from the dates after them, and the Russian story back on the third day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html import escape

import pytest
import yaml
from support.httpserver import LocalWebServer, Route, free_loopback_hosts
from support.news import Entry, rss
from support.smtp import SmtpServer, email_channel

NOW = datetime.now(UTC).replace(microsecond=0)
LRM = "\u200e"

TASS_BODY = [
    "МОСКВА, 7 декабря. /ТАСС/. Иран передал России первую партию баллистических ракет малой дальности "
    "«Фатх-360», сообщили ТАСС два источника в военно-дипломатических кругах. По их словам, ракеты "
    "отправлены морем из иранского порта Амирабад в Астрахань на прошлой неделе.",
    "Источники уточнили, что российские военнослужащие летом прошли обучение работе с этими ракетами на "
    "территории Ирана. В Кремле отказались комментировать эту информацию, постоянное представительство "
    "Ирана при ООН на запрос не ответило.",
]
TASS = ("Иран передал России первую партию ракет «Фатх-360»", TASS_BODY)
REPRINT = ("Источники: Иран передал России ракеты «Фатх-360»", ["Подписывайтесь на наш канал.", *TASS_BODY])
PERSIAN = (
    "رسانه‌های غربی: ایران نخستین محموله موشک‌های فتح-۳۶۰ را به روسیه فرستاد",
    [
        "دو منبع امنیتی غربی می‌گویند ایران نخستین محموله موشک‌های بالستیک کوتاه‌برد فتح-۳۶۰ را از بندر "
        "امیرآباد در دریای خزر به بندر آستاراخان روسیه فرستاده است.",
        "به گفته این منابع، نظامیان روسی در تابستان برای کار با این موشک‌ها در ایران آموزش دیده‌اند و "
        "کرملین از اظهار نظر درباره این محموله خودداری کرده است.",
    ],
)
IRNA = (
    "سخنگوی وزارت امور خارجه: هیچ موشکی از ایران به روسیه ارسال نشده است",
    [
        "تهران- ایرنا- سخنگوی وزارت امور خارجه گزارش رسانه‌های غربی درباره ارسال موشک‌های بالستیک فتح-۳۶۰ "
        "به روسیه را رد کرد و ادعای ارسال محموله از امیرآباد به آستاراخان را تبلیغات غربی خواند.",
        "وی گفت همکاری دفاعی ایران و روسیه هیچ قانونی را نقض نمی‌کند و هیچ موشکی از راه دریای خزر به "
        "روسیه ارسال نشده است.",
    ],
)
JOINED = (  # no ZWNJ, and Arabic yeh and kaf, as some windows-1256 sites write Persian
    "ايران موشكهاي فتح-360 را به روسيه فرستاد",
    [
        "منابع غربي ميگويند يك كشتي حامل موشكهاي بالستيك فتح-360 ايران از بندر اميرآباد به سوي آستاراخان در "
        "روسيه حركت كرده است و اين محموله همكاري نظامي تهران و مسكو را گسترش ميدهد.",
        "كرملين در اين باره اظهار نظر نكرد و مقامهاي ايراني پيشتر ارسال موشك به روسيه را رد كرده بودند.",
    ],
)
ARABIC = (
    "إيران تنفي إرسال صواريخ فتح-360 الباليستية إلى روسيا",
    [
        "نفت وزارة الخارجية الإيرانية يوم الثلاثاء تقارير غربية عن شحن صواريخ باليستية قصيرة المدى من طراز "
        "فتح-360 من ميناء أمير آباد على بحر قزوين إلى ميناء أستراخان الروسي.",
        "وقال المتحدث باسم الوزارة إن التعاون الدفاعي بين إيران وروسيا لا ينتهك أي قانون، وإنه لم يتم "
        "إرسال أي صواريخ عبر بحر قزوين.",
    ],
)
PESKOV = (
    "Песков: Россия и Иран продолжат военно-техническое сотрудничество",
    [
        "Пресс-секретарь президента России Дмитрий Песков заявил, что Москва и Тегеран продолжат "
        "военно-техническое сотрудничество, и назвал сообщения о поставках иранских ракет «Фатх-360» через "
        "Астрахань провокацией западных СМИ.",
        "Ранее источники сообщили ТАСС, что первая партия баллистических ракет была отправлена из порта "
        "Амирабад на Каспии. В МИД Ирана поставки отрицают.",
    ],
)

# (site, host index, charset, lang) -> day -> slug -> (title, paragraphs, days ago)
OUTLETS = {
    ("ТАСС", 0, "windows-1251", "ru"): {1: {"tass": (*TASS, 1.0)}, 3: {"peskov": (*PESKOV, 0.05)}},
    ("Вести Регион", 1, "utf-8", "ru"): {1: {"reprint": (*REPRINT, 0.9)}},
    ("خبرگزاری پارس", 2, "windows-1256", "fa"): {
        1: {"pars": (*PERSIAN, 0.95)},
        2: {"joined": (*JOINED, 0.3)},
    },
    ("ایرنا", 3, "utf-8", "fa"): {2: {"irna": (*IRNA, 0.2)}},
    ("الخليج نيوز", 4, "utf-8", "ar"): {2: {"arabic": (*ARABIC, 0.25)}},
}
WATCHLIST = {
    "aliases": {
        "iran": ["Iran", "Tehran", "Иран*", "Тегеран*", "ایران", "تهران", "إيران"],
        "russia": ["Russia", "Moscow", "Kremlin", "Росси*", "Москв*", "Кремл*", "روسیه", "مسکو", "روسيا"],
    },
    "topics": [
        {"name": "arms", "query": "@iran AND @russia AND (missile* OR ракет* OR موشک* OR صواريخ)"},
        {"name": "persian-missiles", "query": "موشک‌های"},  # with the ZWNJ, as a Persian keyboard types it
    ],
}


def encode(text: str, charset: str) -> bytes:
    if charset == "windows-1256":  # its letters are the Arabic yeh and kaf, its digits ASCII
        text = text.replace("ی", "ي").replace("ک", "ك").translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789"))
    return text.encode(charset)


def page(title: str, paragraphs: list[str], charset: str, lang: str, site: str) -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    direction = ' dir="rtl"' if lang in ("fa", "ar") else ""
    return (
        f'<!DOCTYPE html><html lang="{lang}"{direction}><head><meta charset="{charset}">'
        f'<title>{escape(title)} | {escape(site)}</title><meta property="og:site_name" content="{escape(site)}">'
        f'</head><body><nav><a href="/">Home</a></nav><main><article><h1>{escape(title)}</h1>{body}</article>'
        f"</main><footer><p>© {escape(site)}</p></footer></body></html>"
    )


def publish(web: LocalWebServer, day: int) -> list[dict]:
    """Serve every outlet's pages and feed as they stand on ``day``; the feeds to configure."""
    feeds = []
    for (site, index, charset, lang), days in OUTLETS.items():
        host = web.hosts[index]
        entries = []
        for upto in range(1, day + 1):
            for slug, (title, paragraphs, days_ago) in days.get(upto, {}).items():
                html = encode(page(title, paragraphs, charset, lang, site), charset)
                web.set(f"/news/{slug}", Route(html, headers={"Content-Type": "text/html"}), host=host)
                url = web.url(f"/news/{slug}", host=host)
                entries.append(
                    Entry(
                        slug, title, paragraphs[-1][:120], url, f"urn:{slug}", NOW - timedelta(days=days_ago)
                    )
                )
        if entries:
            xml = rss(site, web.url("/", host=host), entries[::-1]).replace('"utf-8"', f'"{charset}"', 1)
            feed = Route(encode(xml, charset), headers={"Content-Type": "application/rss+xml"})
            web.set("/feed.xml", feed, host=host)
            feeds.append({"name": site, "url": web.url("/feed.xml", host=host)})
    return feeds


def configure(workspace, feeds: list[dict], smtp_port: int, slack_url: str) -> None:
    workspace.write_config(feeds)
    digest = {
        "name": "morning",
        "schedule": "0 7 * * *",
        "timezone": "UTC",
        "lookback": "3d",
        "channels": {"email": email_channel(smtp_port), "slack": {"webhook_url": slack_url}},
    }
    with workspace.config_path.open("a", encoding="utf-8") as file:
        file.write(
            yaml.safe_dump({"watchlist": WATCHLIST, "digests": [digest]}, sort_keys=False, allow_unicode=True)
        )


@pytest.fixture
def outlets():
    with LocalWebServer(hosts=free_loopback_hosts(5)) as server:
        for host in server.hosts:
            server.set("/robots.txt", "User-agent: *\nAllow: /\n", host=host)
        server.set("/hooks/slack", Route(body="ok"))
        yield server


def test_three_mornings_of_a_story_told_in_russian_persian_and_arabic(workspace, outlets):
    mornings = []
    with SmtpServer() as smtp:
        for day in (1, 2, 3):
            mails, posts = len(smtp.messages), len(outlets.requests_for("/hooks/slack"))
            configure(workspace, publish(outlets, day), smtp.port, outlets.url("/hooks/slack"))
            workspace.cli("poll")
            workspace.cli("digest", "morning", "--send-now")
            [mail] = smtp.messages[mails:]
            slack = [json.loads(r.body) for r in outlets.requests_for("/hooks/slack")[posts:]]
            mornings.append((mail.get_body(("plain",)).get_content(), json.dumps(slack, ensure_ascii=False)))
    (text1, slack1), (text2, slack2), (text3, _) = mornings

    # Day 1: the TASS report once, its reprint counted as a copy; the Persian write-up a story of its own.
    assert "2 new stories" in text1 and f"* {TASS[0]}" in text1 and REPRINT[0] not in text1
    assert "Wire copy carried by 1 more outlet:" in text1 and "- Вести Регион: http" in text1
    # The outlet in Persian letters stands apart from the date after it, in the email and on Slack.
    assert f"\n  {LRM}خبرگزاري پارس{LRM} · " in text1 and f"{LRM}خبرگزاري پارس{LRM} · " in slack1

    # Day 2: the Persian story is back as an update, with IRNA's denial a new write-up; the Arabic one is new.
    assert "1 new story, 1 update" in text2
    update = text2.split("* [Update] ", 1)[1].split("\n* ", 1)[0]
    read = " ".join(update.split())  # as read: the plain text is wrapped at 76 columns
    assert f"{LRM}ایرنا{LRM}: {IRNA[0]}" in read and "3 reports from 2 outlets so far" in read
    assert ARABIC[0] in " ".join(text2.split()) and TASS[0] not in text2 and "*Update*" in slack2
    agencies = {
        article["url"].rsplit("/", 1)[1]: article["agency"]
        for story in workspace.json("stories")
        for cluster in story["clusters"]
        for article in cluster["articles"]
    }
    assert agencies["irna"] == "IRNA" and agencies["tass"] == agencies["reprint"] == "TASS"
    # The joined spelling is found by the term written with the ZWNJ, and quoted as the outlet wrote it.
    found = workspace.json("matches", "--topic", "persian-missiles")
    assert {m["url"].rsplit("/", 1)[1] for m in found} == {"pars", "irna", "joined"}
    assert "موشكهاي" in json.dumps(found, ensure_ascii=False)

    # Day 3: the Kremlin's reaction brings the Russian story back as an update, not as a new story.
    assert "1 update" in text3 and "new stor" not in text3.split("\n", 3)[2]
    assert f"* [Update] {PESKOV[0]}" in text3 and "first reported" in text3
