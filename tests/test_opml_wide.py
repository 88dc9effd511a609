"""OPML: UTF-32 lists without a byte order mark."""

import pytest

from monitor.ingest.opml import OpmlError, parse_opml


@pytest.mark.parametrize("codec", ["utf-32-le", "utf-32-be"])
def test_a_list_in_utf32_without_a_byte_order_mark_is_refused_for_its_entities_too(codec):
    doc = (
        '<?xml version="1.0" encoding="UTF-32"?>\n<!DOCTYPE opml [<!ENTITY a "https://evil.example/f">]>\n'
        '<opml version="2.0"><head><title>x</title></head><body>'
        '<outline type="rss" text="E" xmlUrl="&a;"/></body></opml>'
    )
    with pytest.raises(OpmlError, match="declares XML entities"):
        parse_opml(doc.encode(codec), name="wide.opml")
