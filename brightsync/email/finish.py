"""Finish open claims outside a mailbox run (the process_claims task, the sweeper, the sync
cache): each in its current owner's context, under one heartbeat."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from brightsync.clients.aurinko import TokenDeadError
from brightsync.db import session_scope
from brightsync.email import departure
from brightsync.email.claim_leases import end_waits, is_handed, needs_work, take_handed, workable
from brightsync.email.context import load_context
from brightsync.email.queue import publish_after_commit
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
        owners: dict[int | None, list[int]] = defaultdict(list)
        for c in s.scalars(select(EmailClaim).where(EmailClaim.id.in_(claim_ids))):
            if needs_work(c):
                owners[c.owner_user_id].append(c.id)
        # An owner that left or turned email off works on nothing: its claims pass on.
        for gone in departure.not_logging(s, set(owners)):
            ids = owners.pop(gone)
            if gone is None:
                departure.orphan_ownerless(s, ids)
            else:
                reopened = departure.pass_on(s, gone, leaving=False).reopened
                if reopened:
                    publish_after_commit(s, reopened)
        by_owner.update({o: ids for o, ids in owners.items() if o is not None})
    totals: dict[str, int] = defaultdict(int)
    heartbeat = leases.Heartbeat(
        [lambda: leases.renew(EmailClaim, owner, where=[workable()])],
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
