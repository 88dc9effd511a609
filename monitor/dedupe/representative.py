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

A copy joining a cluster is weighed against the representative alone (``representative_after_join``), not
against every member: a hot wire story gathers hundreds of copies, and reading every member's text at each
one made placing a copy cost in proportion to the copies before it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from monitor.dedupe.agency import agency_domains
from monitor.store.records import Member

__all__ = ["COMPLETE_SHARE", "Member", "choose_representative", "representative_after_join"]

COMPLETE_SHARE = 0.6


def choose_representative(members: tuple[Member, ...], *, agency: str | None) -> Member:
    """The member that stands for the cluster (see the module docstring for the rule)."""
    if not members:
        raise ValueError("a cluster has at least one member")
    domains = agency_domains(agency) if agency else ()
    if domains:
        own = [m for m in members if _on_site(m.url, domains)]
        if own:
            return min(own, key=_earliest)
    longest = max(m.body_length for m in members)
    complete = [m for m in members if m.body_length >= COMPLETE_SHARE * longest]
    return min(complete, key=_earliest)


def representative_after_join(
    current: Member,
    joining: Member,
    *,
    longest: int | None,
    agency_before: str | None,
    agency: str | None,
) -> Member | None:
    """The representative once ``joining`` has joined a cluster whose representative, chosen by the rule,
    is ``current``; None when only the whole rule, over every member, can tell.

    ``longest`` is the body length of the cluster's longest member before the join (None: not known);
    ``agency_before`` and ``agency`` are the agency the cluster was credited to before the join and after.

    The whole rule is needed when the joining copy is the longest yet (members that were complete may no
    longer be), when the cluster is first credited to an agency (members on its site may be there already),
    and when the longest member is not known.
    """
    if longest is None or agency != agency_before:
        return None
    domains = agency_domains(agency) if agency else ()
    current_own, joining_own = _on_site(current.url, domains), _on_site(joining.url, domains)
    if current_own or joining_own:
        # The rule chose a member on the agency's site whenever there was one: if ``current`` is not on it,
        # no member was, and the joining copy is the first.
        if current_own and joining_own:
            return min(current, joining, key=_earliest)
        return current if current_own else joining
    if joining.body_length > longest:
        return None
    if joining.body_length >= COMPLETE_SHARE * longest:
        return min(current, joining, key=_earliest)
    return current


def _earliest(member: Member) -> tuple:
    return (member.at, member.id)


def _on_site(url: str, domains: tuple[str, ...]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == d or host.endswith("." + d) for d in domains)
