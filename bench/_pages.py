"""Article pages for the benchmarks: real news HTML from ../shared/corpora when present, else synthetic HTML.

The corpus files are third-party content: they are read from disk at run time and never copied into this
repository. One page is served under many article URLs, so every tag that names the page's own address
(rel=canonical, og:url, twitter:url, <base>, hreflang x-default) is removed at load time; otherwise
monitor would follow it and store all those URLs as one article.
"""

from __future__ import annotations

import gzip
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

# (name, glob under corpora/): readability's and newspaper's test pages, trafilatura's evaluation set.
SOURCES = (
    ("readability", "readability/test/test-pages/*/source.html.gz"),
    ("readability", "readability/test/test-pages/*/source.html"),
    ("newspaper", "newspaper/tests/data/html/*.html"),
    ("trafilatura", "trafilatura/tests/eval/*.html.gz"),
)
MIN_PAGE_BYTES = 2_000
MAX_PAGE_BYTES = 2_000_000

_SELF_ADDRESS = [
    re.compile(rb"<link\b[^>]*\brel\s*=\s*[\"']?\s*canonical\b[^>]*>", re.IGNORECASE),
    re.compile(rb"<link\b[^>]*\bhreflang\s*=\s*[\"']?x-default\b[^>]*>", re.IGNORECASE),
    # og:url and twitter:url, also with the colon written as a character reference
    re.compile(
        rb"<meta\b[^>]*\b(?:property|name)\s*=\s*[\"']?(?:og|twitter)(?::|&#x0*3a;|&#0*58;)url"
        rb"[\"'\s/>][^>]*>?",
        re.IGNORECASE,
    ),
    re.compile(rb"<base\b[^>]*>", re.IGNORECASE),
]


@dataclass(frozen=True)
class Page:
    name: str  # "readability/bbc-1", "trafilatura/0a12df42....", "synthetic/17"
    html: bytes


def shared_dir() -> Path:
    """../shared (beside the repository), or $MONITOR_SHARED_DIR."""
    env = os.environ.get("MONITOR_SHARED_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def strip_self_address(html: bytes) -> bytes:
    """The page without the tags that state its own URL."""
    for pattern in _SELF_ADDRESS:
        html = pattern.sub(b"", html)
    return html


def corpus_files(shared: Path | None = None) -> list[tuple[str, Path]]:
    """(source name, path) of every usable corpus page, in a stable order."""
    corpora = (shared or shared_dir()) / "corpora"
    found: list[tuple[str, Path]] = []
    for source, pattern in SOURCES:
        found += [(source, path) for path in sorted(corpora.glob(pattern))]
    return found


def _read(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return data


def _page_name(source: str, path: Path) -> str:
    stem = path.parent.name if path.name.startswith("source.html") else path.name.split(".html")[0]
    return f"{source}/{stem}"


def load_corpus_pages(limit: int, *, seed: int = 7, shared: Path | None = None) -> list[Page]:
    """Up to ``limit`` real pages, drawn evenly from each corpus source (deterministic for a given seed)."""
    by_source: dict[str, list[Path]] = {}
    for source, path in corpus_files(shared):
        by_source.setdefault(source, []).append(path)
    rng = random.Random(seed)
    for paths in by_source.values():
        rng.shuffle(paths)
    pages: list[Page] = []
    # Round robin over the sources, so a small limit still mixes them.
    queues = [[(source, path) for path in paths] for source, paths in by_source.items()]
    while len(pages) < limit and any(queues):
        for queue in queues:
            if not queue or len(pages) >= limit:
                continue
            source, path = queue.pop()
            data = _read(path)
            if data is None or not MIN_PAGE_BYTES <= len(data) <= MAX_PAGE_BYTES:
                continue
            pages.append(Page(_page_name(source, path), strip_self_address(data)))
    return pages


_WORDS = re.findall(
    r"\w+",
    (
        "government minister council report city police market company shares court ruling election vote "
        "health hospital school teachers weather storm river bridge energy prices inflation bank rates "
        "football club season coach players museum exhibition festival film director science study "
        "researchers university climate emissions farmers harvest transport rail strike union workers"
    ),
)


def synthetic_page(index: int, *, paragraphs: int = 12, seed: int = 11) -> Page:
    """A plausible news page with navigation, a long article body, a sidebar and a footer."""
    rng = random.Random(seed * 100_003 + index)

    def sentence(n: int) -> str:
        words = [rng.choice(_WORDS) for _ in range(n)]
        return " ".join(words).capitalize() + "."

    title = sentence(8)[:-1]
    nav = "".join(f'<li><a href="/section/{w}">{w.title()}</a></li>' for w in rng.sample(_WORDS, 8))
    body = "".join(
        f"<p>{' '.join(sentence(rng.randint(9, 22)) for _ in range(rng.randint(3, 6)))}</p>"
        for _ in range(paragraphs)
    )
    related = "".join(f'<li><a href="/news/{rng.randint(1, 10**6)}">{sentence(6)}</a></li>' for _ in range(6))
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title} | Daily Bench</title>"
        f'<meta name="author" content="Reporter {index % 37}">'
        '<meta property="article:published_time" content="2024-09-01T08:00:00Z">'
        "</head><body>"
        f"<header><nav><ul>{nav}</ul></nav></header>"
        f'<main><article><h1>{title}</h1><p class="byline">By Reporter {index % 37}</p>{body}'
        "</article></main>"
        f"<aside><h2>Related</h2><ul>{related}</ul></aside>"
        "<footer><p>Copyright Daily Bench. All rights reserved.</p></footer>"
        "</body></html>"
    )
    return Page(f"synthetic/{index}", html.encode("utf-8"))


def load_pages(limit: int, *, synthetic: bool = False, seed: int = 7) -> tuple[list[Page], str]:
    """``limit`` pages and a description of where they came from: the corpora if present, else synthetic."""
    if not synthetic:
        pages = load_corpus_pages(limit, seed=seed)
        if pages:
            return pages, f"{len(pages)} real pages from {shared_dir() / 'corpora'}"
    return [synthetic_page(i) for i in range(limit)], f"{limit} synthetic pages (corpora absent or not used)"
