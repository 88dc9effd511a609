"""A feed in ISO-8859-1 with no label at all (no charset in Content-Type, no XML declaration), as
real Portuguese and French feeds are served: its accents must be read as Latin-1/windows-1252, not as a
Baltic or Central European code page that a detector picks because the markup around the text is English."""

from __future__ import annotations

import pytest

from monitor.ingest.feedbytes import decode
from monitor.ingest.parse import parse_feed

PORTUGUESE = [
    "Câmara aprova orçamento após votação longa; oposição promete recorrer",
    "Ministério da Saúde amplia vacinação em três estados",
    "Preço do pão sobe 4% e padarias reclamam dos custos de energia",
    "Prefeitura anuncia obras de drenagem antes da estação chuvosa",
    "Seleção feminina vence amistoso e mantém invencibilidade",
    "Inflação de serviços desacelera no 3º trimestre, diz instituto",
]
FRENCH = [
    "La mairie rénove la bibliothèque et agrandit la salle d'étude",
    "Grève des contrôleurs aériens : vols annulés à l'aéroport",
    "Météo : épisode de grêle attendu sur le littoral à la mi-journée",
    "Les élèves de troisième découvrent la réalité virtuelle au collège",
    "Fête du village : le marché déplacé près de l'église",
]


def _feed(titles: list[str], times: int = 1) -> bytes:
    # As such feeds are: English element names, long ASCII links and dates around short accented titles, so
    # that the markup, not the text, is most of what a detector reads.
    items = "".join(
        f"<item>\n\t\t<title><![CDATA[{t}]]></title>\n"
        f"\t\t<link><![CDATA[https://news.example/politics/elections/2018/news/2018/09/24/story-{i}.htm]]></link>\n"
        f"\t\t<description><![CDATA[{t}]]></description>\n"
        "\t\t<pubDate>Mon, 24 Sep 2018 19:42:40 -0300</pubDate>\n\t</item>\n\t"
        for i, t in enumerate(titles * times)
    )
    return (
        "<rss>\n\t<channel>\n\t\t<title>News</title>\n\t\t<link>https://news.example/</link>\n"
        f"\t\t<description>Latest news</description>\n\t{items}</channel>\n</rss>\n"
    ).encode("latin-1")


@pytest.mark.parametrize("times", [1, 2, 3])
@pytest.mark.parametrize("titles", [PORTUGUESE, FRENCH], ids=["pt", "fr"])
def test_an_unlabelled_latin1_feed_keeps_its_accents(titles, times):
    body = _feed(titles, times)
    parsed = parse_feed(body, url="https://news.example/rss", headers={"Content-Type": "application/xml"})
    assert [item.title for item in parsed.items][: len(titles)] == titles
    text, charset, warnings = decode(body, {"content-type": "text/xml"})
    assert charset in ("cp1252", "iso8859-1", "latin-1") and not warnings
