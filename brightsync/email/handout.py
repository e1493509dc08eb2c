"""Sharing a run's owned claims out to other workers when one mailbox owns a backlog."""

from __future__ import annotations

from typing import TypeVar

from brightsync.config import get_settings
from brightsync.db import session_scope
from brightsync.email.claim_leases import handed_owner, pass_lease
from brightsync.email.context import EmailContext
from brightsync.email.queue import publish_after_commit
from brightsync.email.writer import Work

T = TypeVar("T")


def share_out(items: list[T], chunk: int) -> tuple[list[T], list[list[T]]]:
    """(what this worker finishes itself, parts for tasks): up to `chunk` items stay here;
    more are split into as few parts of at most `chunk` as possible, of even sizes, and
    nothing stays (the run goes on reading while other workers write)."""
    chunk = max(1, chunk)
    if len(items) <= chunk:
        return items, []
    count = -(-len(items) // chunk)  # ceil
    size, extra = divmod(len(items), count)
    parts, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        parts.append(items[start:end])
        start = end
    return [], parts


def hand_out(ctx: EmailContext, owned: list[Work], owner: str) -> list[Work]:
    """Publish a run's owned claims for other workers when there are more than
    BRIGHTSYNC_EMAIL_CHUNK of them; what the run still writes itself.

    One run per mailbox is too coarse a unit when one mailbox owns most of a backlog (a first
    sync, a burst of mail that mailbox saw first): its writes would wait on each other's
    network round trips while other workers sit idle. Each part is leased to its task (see
    claim_leases.pass_lease) and finished by process_claims, fenced like any other claim work; a
    part costs one contact and one opportunity lookup, as the run's own batch would.
    """
    keep, parts = share_out(owned, get_settings().email_chunk)
    for part in parts:
        task_owner = handed_owner()
        with session_scope() as s:
            ids = pass_lease(s, [w.claim_id for w in part], owner, task_owner)
            if ids:
                publish_after_commit(s, ids, owner=task_owner)
        ctx.count("handed_out", len(ids))
    return keep
