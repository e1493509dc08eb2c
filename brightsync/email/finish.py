"""Finish open claims outside a mailbox run (the process_claims task, the sweeper, the sync
cache): each in its current owner's context, under one heartbeat."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from brightsync.clients.aurinko import TokenDeadError
from brightsync.db import session_scope
from brightsync.email.claim_leases import end_waits, is_handed, take_handed
from brightsync.email.claims import OPEN_STATES
from brightsync.email.context import load_context
from brightsync.email.writer import Work, process
from brightsync.models import EmailClaim
from brightsync.sync import leases
from brightsync.sync.run import mark_reauth


def working_owner(owner: str | None) -> str:
    """The token a task works under: a fresh one, or the claims handed to it taken over from
    their handed token (claim_leases.take_handed), or a working token carried by a retry."""
    if owner is None:
        return leases.new_owner()
    if is_handed(owner):
        with session_scope() as s:
            return take_handed(s, owner)
    return owner


def finish_claims(claim_ids: list[int], owner: str | None = None) -> dict[str, int]:
    """Finish open claims, each in its current owner's context (owners change on hand-over).

    `owner` is the lease token the publisher (the sweeper, a deferral) leased the claims to;
    a fresh one otherwise. A heartbeat keeps the claims' leases alive while this works.
    """
    owner = working_owner(owner)
    by_owner: dict[int, list[int]] = defaultdict(list)
    with session_scope() as s:
        end_waits(s, claim_ids)  # a wait for the sender's copy that is over: decide now
    with session_scope() as s:
        for c in s.scalars(select(EmailClaim).where(EmailClaim.id.in_(claim_ids))):
            if c.state in OPEN_STATES:
                by_owner[c.owner_user_id].append(c.id)
    totals: dict[str, int] = defaultdict(int)
    heartbeat = leases.Heartbeat(
        [lambda: leases.renew(EmailClaim, owner, where=[EmailClaim.state.in_(OPEN_STATES)])],
        essential=False,
    )
    with heartbeat:
        for user_id, ids in by_owner.items():
            ctx = load_context(user_id)
            try:
                process(ctx, [Work(claim_id=i) for i in ids], owner)
            except TokenDeadError as exc:
                mark_reauth(user_id, str(exc))
            finally:
                ctx.close()
            for key, value in ctx.counters.items():
                totals[key] += value
    return dict(totals)
