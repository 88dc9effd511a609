"""Canonical form of article URLs, so one article reached by several links is stored once."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import courlan

MAX_URL_LENGTH = 2048


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, default port, sorted query without tracking parameters, no fragment.

    courlan's non-strict normalisation removes the trackers (utm_*, fbclid, gclid, at_medium...) but keeps the
    parameters a site needs to tell articles apart (strict mode would drop those too).
    """
    try:
        normalized = courlan.normalize_url(url.strip())
    except (ValueError, AttributeError):
        normalized = url.strip()
    parts = urlsplit(normalized)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def lookup_forms(url: str) -> tuple[str, str]:
    """(``url`` as written, its canonical form) to look a stored article up by; a URL too malformed to
    canonicalise (an unclosed IPv6 bracket) is looked for as written."""
    try:
        return url, canonical_url(url)
    except ValueError:
        return url, url


def is_fetchable(url: str | None) -> bool:
    """An absolute http(s) URL of sane length."""
    if not url or len(url) > MAX_URL_LENGTH:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def is_move(url: str, moved_to: str | None) -> bool:
    """Whether ``moved_to`` (where ``url``'s permanent redirects led) is an address to offer in its place: a
    fetchable one, and no step down from https to http (a redirect that drops TLS is followed, not adopted)."""
    if not is_fetchable(moved_to):
        return False
    return not (urlsplit(url).scheme == "https" and urlsplit(moved_to or "").scheme == "http")
