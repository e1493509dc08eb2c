"""A full listing reports no deletions: the linked records it leaves out are read once.

A side read without a cursor is listed in full: on a first run, and on the run after one that
died before storing its cursors (or after the cursors were reset). A record deleted after a
link to it was stored is then simply missing from the listing, and the plan would take it as
unchanged (as last seen) for good, so its deletion would never reach the other side, e.g. a
mailbox record deleted after a dead run sent its create to the CRM. `confirm_unlisted` reads
each such record once and reports the missing ones deleted; one that still exists (outside
what the listing covers, e.g. a calendar window) stays as last seen.

The same holds for the periodic full listing of a CRM side without a deleted feed
(`ChangeSet.listed`, `sync/crm_deletions.py`): only the linked records its `covers` says it
would hold are read, at most `PERIODIC_LIMIT` per run (the rest at the next listing).
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import replace

from brightsync.clients.http import NotFoundError
from brightsync.sync.adapter import Adapter, ChangeSet, Side
from brightsync.sync.status import Link

# Reads one periodic listing may cost: what is left waits for the next listing.
PERIODIC_LIMIT = 200


def unlisted(links: Iterable[Link], listing: ChangeSet, side: Side) -> list[str]:
    """The ids of `side`'s linked, not deleted records that `listing` does not mention (and,
    with `listing.covers`, would hold by their fields as last seen)."""
    listed = {r.id for r in listing.records} | set(listing.deleted)
    covers = listing.covers
    ids = {
        state.id
        for state in (link.side(side) for link in links)
        if not state.gone and (covers is None or covers(state.seen or {}))
    }
    return sorted(i for i in ids if i is not None and i not in listed)


def exists(adapter: Adapter, side: Side, record_id: str) -> bool:
    try:
        return adapter.get(side, record_id) is not None
    except NotFoundError:
        return False


def confirm_unlisted(
    adapter: Adapter,
    links: Sequence[Link],
    changes: MutableMapping[Side, ChangeSet],
    full: Iterable[Side],
) -> None:
    """Add to `changes` the deletion of each record of a side listed in `full` that a link
    knows, the listing leaves out and the side no longer has."""
    for side in full:
        listing = changes[side]
        missing = unlisted(links, listing, side)
        if listing.listed:
            missing = missing[:PERIODIC_LIMIT]
        gone = tuple(i for i in missing if not exists(adapter, side, i))
        if gone:
            changes[side] = replace(listing, deleted=(*listing.deleted, *gone))
