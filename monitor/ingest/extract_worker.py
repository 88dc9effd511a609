"""What the extraction workers' parent process (the forkserver) loads once, before it forks any worker.

Importing this module is the point: it imports trafilatura, runs one extraction on a small page and builds
the stop-word lists of every language that trafilatura's justext fallback makes on first need (about 30 MB),
so the tables trafilatura builds lazily exist before the fork. Every worker then shares those pages with the
forkserver instead of building its own copy, and a recycled worker starts warm. ``gc.freeze`` keeps the
collector from touching (and so copying) those objects in the workers.

The pipeline's own process never imports this module: it only names it (see ``monitor.pipeline.Extractor``).
"""

from __future__ import annotations

import gc

from monitor.ingest.extract import extract_page
from monitor.runtime.lifeline import die_with_parent
from monitor.runtime.logs import configure_child_logging

# The forkserver ends with the daemon or poll that started it, even one killed with SIGKILL; its workers
# ask the same of it (``monitor.pipeline.Extractor`` starts them with ``die_with_parent``).
die_with_parent()

# The forkserver starts as a new interpreter: without this, a worker's log lines would be plain text (and
# unredacted) whatever the daemon was asked for.
configure_child_logging()

_WARM_UP_PAGE = b"""<!doctype html><html lang="en"><head><title>Warm-up</title>
<meta name="author" content="Monitor"><meta property="article:published_time" content="2024-01-02T03:04:05Z">
</head><body><nav><a href="/">Home</a> <a href="/world">World</a></nav><article><h1>Warm-up</h1>
<p>This short page is extracted once when the extraction workers' parent starts, so that the tables built on
a first extraction are made before the workers are forked and are shared by all of them.</p>
<p>It has two paragraphs of ordinary prose, a navigation bar and a footer, like a news page has.</p>
</article><footer>Copyright</footer></body></html>"""


def _warm_up() -> None:
    extract_page(_WARM_UP_PAGE, "http://localhost/warm-up")
    try:  # internals of trafilatura 2.x and justext 3.x: without them the workers build the lists themselves
        from justext.core import define_stoplist
        from trafilatura.external import JT_STOPLIST, jt_stoplist_init

        define_stoplist(JT_STOPLIST or jt_stoplist_init())
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - another version of either
        pass
    gc.collect()
    gc.freeze()


_warm_up()
