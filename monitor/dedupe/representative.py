"""Which copy stands for a wire cluster. Pure.

The rule, in order:

1. the agency's own text: a member found on the site of the agency the cluster is credited to
   (apnews.com for an AP story), because it is the original the others trimmed and decorated;
2. else the earliest *complete* member: among the members whose body is at least 60% as long as the
   longest, the one published first (fetch time when the date is missing). Earliest, because reprints follow
   the original; complete, because the earliest copy is often a teaser or a trimmed reprint (half the text
   or less). Not stricter than 60%, because a reprint often adds the reprinting outlet's header, sign-up
   lines and footer: an original of 2,000 characters must still win over its reprint of 3,000;
3. ties go to the lowest id (the first stored), so the choice is stable.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from monitor.dedupe.agency import agency_domains
from monitor.store.records import Member

__all__ = ["COMPLETE_SHARE", "Member", "choose_representative"]

COMPLETE_SHARE = 0.6


def choose_representative(members: tuple[Member, ...], *, agency: str | None) -> Member:
    """The member that stands for the cluster (see the module docstring for the rule)."""
    if not members:
        raise ValueError("a cluster has at least one member")
    domains = agency_domains(agency) if agency else ()
    if domains:
        own = [m for m in members if _on_site(m.url, domains)]
        if own:
            return min(own, key=lambda m: (m.at, m.id))
    longest = max(m.body_length for m in members)
    complete = [m for m in members if m.body_length >= COMPLETE_SHARE * longest]
    return min(complete, key=lambda m: (m.at, m.id))


def _on_site(url: str, domains: tuple[str, ...]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == d or host.endswith("." + d) for d in domains)
