"""`monitor match` quotes each hit as the article wrote it: a Persian word keeps its zero-width non-joiner
(shown as the word, not as ``\\u200c``)."""

from __future__ import annotations

import yaml


def test_hits_are_quoted_as_written(workspace):
    watchlist = {"topics": [{"name": "missiles", "query": "موشک‌ها"}]}
    workspace.config_path.write_text(
        yaml.safe_dump({"feeds": [], "watchlist": watchlist}, allow_unicode=True)
    )
    shown = workspace.cli("match", "--text", "ارسال موشک‌ها به روسیه").stdout
    assert "body word 1 ('موشک\u200cها')" in shown and "\\u200c" not in shown
