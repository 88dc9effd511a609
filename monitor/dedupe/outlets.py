"""Who published an article: the outlet a digest names. Pure.

An outlet is a publisher, not a feed: a site's sitemap and its RSS are one outlet, and so are its
``www.`` and ``edition.`` hosts. The page's own name for itself (og:site_name, kept as ``site_name``) is
the best label; without one, the registered domain (``bbc.co.uk`` for ``www.bbc.co.uk``), found with the
public suffix list that the ``tld`` package ships (no download at run time).
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

MAX_NAME = 80


def outlet_name(url: str, site_name: str | None = None) -> str:
    """The publisher of the article at ``url``: its site name if the page gave one, else its domain."""
    name = " ".join((site_name or "").split())
    if name:
        return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1].rstrip() + "…"
    return outlet_domain(url)


def outlet_key(url: str, site_name: str | None = None) -> str:
    """What makes two articles the same outlet's, for counting outlets: the registered domain.

    Not the name the pages give themselves: a page whose extraction failed has none, and its outlet was
    counted twice ("3 reports from 3 outlets" for two). ``site_name`` names an outlet; it does not count.
    """
    return outlet_domain(url)


@functools.lru_cache(maxsize=4096)
def outlet_domain(url: str) -> str:
    """The registered domain of ``url`` (``bbc.co.uk``); an IP address or unknown suffix gives the host."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return url[:MAX_NAME]
    if not host:
        return url[:MAX_NAME]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # a bare address (a test host, an intranet server): the port tells two sites apart
        return f"{host}:{parts.port}" if parts.port else host
    from tld import get_fld  # imported on first use: digests need it, polling does not

    try:
        return get_fld(host, fix_protocol=True, fail_silently=True) or host.removeprefix("www.")
    except Exception:  # noqa: BLE001 - a malformed host from a feed falls back to itself
        return host.removeprefix("www.")
