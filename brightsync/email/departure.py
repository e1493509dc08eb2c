"""What a mailbox leaves behind when it goes (removed) or stops logging email (the service
turned off): the org-wide claims it owned.

Each claim passes to a colleague's usable copy of the message where one exists (a sighting
without a note); the decision and what was logged stay on the claim. A claim with no other
copy stays on record: an open one as `orphaned` (the next mailbox whose sync sees the message
adopts it), a decided one as it is, so no mailbox that sees the message later logs it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from brightsync.email.claims import OPEN_STATES, ORPHANED, WAITING
from brightsync.models import EmailClaim, EmailSighting, UnmatchedItem, User

# The reason an open claim is left with when its mailbox stops logging email; turning email
# on again takes these back (`take_back`).
TURNED_OFF = "email turned off for this mailbox"
REMOVED = "its mailbox was removed"
BATCH = 500


@dataclass
class PassedOn:
    passed: int = 0  # to a colleague's copy
    kept: int = 0  # no other copy: on record without an owner's work
    reopened: list[int] = field(default_factory=list)  # open claims the heirs now finish


def pass_on(session: Session, user_id: int, *, leaving: bool) -> PassedOn:
    """Pass the claims `user_id` owns to colleagues' copies. `leaving`: the user is being
    removed (every claim goes; decided ones without an heir lose their owner), else only the
    claims that still need work (open, waiting, in the sync cache) move."""
    out = PassedOn()
    states = None if leaving else (*OPEN_STATES, WAITING, "unmatched")
    last = 0
    while True:
        query = select(EmailClaim).where(EmailClaim.owner_user_id == user_id, EmailClaim.id > last)
        if states is not None:
            query = query.where(EmailClaim.state.in_(states))
        batch = list(session.scalars(query.order_by(EmailClaim.id).limit(BATCH).with_for_update()))
        if not batch:
            return out
        last = batch[-1].id
        heirs = _heirs(session, batch, user_id)
        for claim in batch:
            heir = heirs.get(claim.message_key)
            if heir is not None:
                _give(session, claim, heir, out)
            else:
                _keep(claim, leaving, out)


def _heirs(session: Session, claims: list[EmailClaim], user_id: int) -> dict[str, EmailSighting]:
    """message key -> the oldest usable copy another mailbox holds."""
    org_id = claims[0].org_id
    rows = session.scalars(
        select(EmailSighting)
        .where(
            EmailSighting.org_id == org_id,
            EmailSighting.message_key.in_([c.message_key for c in claims]),
            EmailSighting.user_id != user_id,
            EmailSighting.note.is_(None),
        )
        .order_by(EmailSighting.seen_at, EmailSighting.id)
    )
    heirs: dict[str, EmailSighting] = {}
    for row in rows:
        heirs.setdefault(row.message_key, row)
    return heirs


def _give(session: Session, claim: EmailClaim, heir: EmailSighting, out: PassedOn) -> None:
    claim.owner_user_id, claim.provider_message_id = heir.user_id, heir.provider_message_id
    if claim.state in OPEN_STATES:
        claim.state, claim.lease_until, claim.lease_owner = "claimed", None, None
        out.reopened.append(claim.id)
    if claim.state == "unmatched":  # its sync cache item retries in the heir's context
        session.execute(
            update(UnmatchedItem)
            .where(
                UnmatchedItem.org_id == claim.org_id,
                UnmatchedItem.kind == "email",
                UnmatchedItem.key == claim.message_key,
            )
            .values(user_id=heir.user_id)
        )
    session.execute(delete(EmailSighting).where(EmailSighting.id == heir.id))
    out.passed += 1


def _keep(claim: EmailClaim, leaving: bool, out: PassedOn) -> None:
    if claim.state in (*OPEN_STATES, WAITING, "unmatched"):
        claim.state, claim.reason = ORPHANED, REMOVED if leaving else TURNED_OFF
        claim.lease_until = claim.lease_owner = claim.wait_until = None
    if leaving:
        claim.owner_user_id = None
    out.kept += 1


def not_logging(session: Session, owners: set[int | None]) -> set[int | None]:
    """Of these claim owners, those whose claims must not be worked on: gone (None, or no
    such user any more) or with the email service turned off."""
    ids = [o for o in owners if o is not None]
    known = {
        uid: services
        for uid, services in session.execute(select(User.id, User.services).where(User.id.in_(ids)))
    }
    return {o for o in owners if o is None or "email" not in (known.get(o) or [])}


def orphan_ownerless(session: Session, claim_ids: list[int]) -> None:
    """Open claims whose owner was removed while they were being made: left for a copy."""
    session.execute(
        update(EmailClaim)
        .where(
            EmailClaim.id.in_(claim_ids),
            EmailClaim.owner_user_id.is_(None),
            EmailClaim.state.in_(OPEN_STATES),
        )
        .values(state=ORPHANED, reason=REMOVED, lease_until=None, lease_owner=None)
        .execution_options(synchronize_session=False)
    )


def take_back(session: Session, user_id: int) -> list[int]:
    """Email on again: the claims this mailbox left orphaned when it was turned off (and nobody
    adopted meanwhile) are its to finish again; their ids, to publish after commit."""
    ids = list(
        session.scalars(
            select(EmailClaim.id).where(
                EmailClaim.owner_user_id == user_id,
                EmailClaim.state == ORPHANED,
                EmailClaim.reason == TURNED_OFF,
            )
        )
    )
    if ids:
        session.execute(
            update(EmailClaim)
            .where(EmailClaim.id.in_(ids))
            .values(state="claimed", reason=None, lease_until=None, lease_owner=None)
            .execution_options(synchronize_session=False)
        )
    return ids
