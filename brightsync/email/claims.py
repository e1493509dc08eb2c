"""The org-wide claim on a message: the unique key that makes "logged once" hold.

The first mailbox whose sync sees a message inserts the claim (unique on org + message key)
and owns it; every other mailbox inserts only a sighting. Both are single INSERTs that lose
races gracefully (ON CONFLICT DO NOTHING), so any number of workers agree on one owner.

Copies differ (labels are per mailbox, only the sender's shows Bcc), so a claim records every
participant its copies showed; a later copy that shows more can reopen a decision made from
a partial view, and a colleague's copy of a registered user's mail waits for the sender's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from brightsync.db import dialect_insert
from brightsync.email.copies import MAX_RECORDED_PARTICIPANTS
from brightsync.email.rules import PARTIAL_VIEW_REASONS
from brightsync.models import EmailClaim, EmailSighting, utcnow
from brightsync.sync import leases

# Claims in these states still need work from their owner.
OPEN_STATES = ("claimed", "logging")
# A claim whose owner could not finish and no other holder is known yet.
ORPHANED = "orphaned"
# A colleague's copy of mail a registered user sent, waiting (until `wait_until`) for the
# sender's copy: only that one shows Bcc.
WAITING = "waiting"


@dataclass(frozen=True)
class ClaimResult:
    claim_id: int
    owned: bool  # this mailbox owns the message (it loads the body and writes to the CRM)
    state: str
    reason: str | None = None
    # Every participant known for the message after this copy, and what this copy added.
    participants: frozenset[str] = frozenset()
    revealed: frozenset[str] = frozenset()


def takes_over(state: str, reason: str | None, *, revealed: bool, sender_copy: bool) -> bool:
    """Does a newly seen copy take an existing claim over and decide it again?

    The sender's copy ends a wait for it. A copy showing participants the decision did not
    see reopens a skip made from a partial view ("internal": everyone visible was internal)
    and mail parked for want of a matching contact. Anything else stands.
    """
    if state == WAITING:
        return sender_copy
    if not revealed:
        return False
    return (state == "skipped" and reason in PARTIAL_VIEW_REASONS) or state == "unmatched"


def _recorded(participants: Iterable[str]) -> list[str]:
    return sorted(set(participants))[:MAX_RECORDED_PARTICIPANTS]


def claim(
    session: Session,
    *,
    org_id: int,
    user_id: int,
    key: str,
    provider_message_id: str,
    internet_message_id: str | None,
    subject: str | None,
    direction: str | None,
    state: str = "claimed",
    reason: str | None = None,
    participants: Iterable[str] = (),
    wait_until: datetime | None = None,
    now: datetime | None = None,
    lease_owner: str | None = None,
) -> ClaimResult:
    """Insert the claim (this copy owns it) or, if it exists, record this copy beside it.

    `participants` are the addresses this copy shows; the claim keeps the union over every
    copy seen, and the result says what this copy revealed that was not known. An open claim
    is born leased to `lease_owner` (the run that will finish it), so a worker killed before
    finishing leaves a lease that lapses and the sweeper picks the claim up.
    """
    now = now or utcnow()
    view = frozenset(participants)
    leased = lease_owner is not None and state in OPEN_STATES
    insert = dialect_insert(session)
    values = dict(
        org_id=org_id,
        message_key=key,
        internet_message_id=internet_message_id,
        owner_user_id=user_id,
        provider_message_id=provider_message_id,
        state=state,
        reason=reason,
        subject=(subject or "")[:500] or None,
        direction=direction,
        lease_until=leases.expiry(now) if leased else None,
        lease_owner=lease_owner if leased else None,
        claimed_at=now,
        decided_at=now if state not in (*OPEN_STATES, WAITING) else None,
        attempts=0,
        failures=0,
        participants=_recorded(view),
        wait_until=wait_until if state == WAITING else None,
    )
    inserted = session.execute(
        insert(EmailClaim)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["org_id", "message_key"])
        .returning(EmailClaim.id)
    ).scalar()
    if inserted is not None:
        return ClaimResult(
            claim_id=inserted, owned=True, state=state, reason=reason, participants=view
        )
    existing = session.execute(
        select(
            EmailClaim.id,
            EmailClaim.state,
            EmailClaim.owner_user_id,
            EmailClaim.reason,
            EmailClaim.participants,
        ).where(EmailClaim.org_id == org_id, EmailClaim.message_key == key)
    ).one()
    known, revealed = _reveal(session, existing.id, frozenset(existing.participants or ()), view)
    usable = state in (*OPEN_STATES, WAITING)  # this copy would log (or wait to)
    if existing.owner_user_id != user_id:
        sight(
            session,
            org_id=org_id,
            user_id=user_id,
            key=key,
            provider_message_id=provider_message_id,
        )
    elif existing.state != ORPHANED or not usable:
        # Our own claim seen again (a re-sync): ownership does not change.
        return ClaimResult(
            claim_id=existing.id,
            owned=True,
            state=existing.state,
            reason=existing.reason,
            participants=known,
            revealed=revealed,
        )
    if existing.state == ORPHANED and usable:
        # Orphaned: the owner's copy vanished and nobody took over. This copy will do (even
        # the old owner's own, come back from the trash).
        c = session.get(EmailClaim, existing.id, with_for_update=True, populate_existing=True)
        if c is not None and c.state == ORPHANED:
            _transfer(session, c, user_id, provider_message_id, c.reason or "copy gone")
            return ClaimResult(claim_id=c.id, owned=True, state="claimed", participants=known)
    return ClaimResult(
        claim_id=existing.id,
        owned=False,
        state=existing.state,
        reason=existing.reason,
        participants=known,
        revealed=revealed,
    )


def _reveal(
    session: Session, claim_id: int, known: frozenset[str], view: frozenset[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """Add what this copy shows to the claim's participants; (all known, newly revealed)."""
    revealed = view - known
    if not revealed:
        return known, revealed
    # Row lock: two copies revealing at once must not lose each other's addresses.
    c = session.get(EmailClaim, claim_id, with_for_update=True, populate_existing=True)
    if c is None:
        return known, revealed
    before = frozenset(c.participants or ())
    revealed = view - before
    if revealed:
        c.participants = _recorded(before | view)
        session.flush()
    return before | view, revealed


def reveal(
    session: Session,
    *,
    org_id: int,
    key: str,
    participants: Iterable[str],
    sender_copy: bool,
    now: datetime | None = None,
) -> ClaimResult | None:
    """A copy that cannot be used (in the trash, in junk) still shows who the message went to.

    Its participants join the claim's, if there is one; if it is the sender's copy, a wait
    for it is over (wait_until moves to now) and the owner decides on everything known. A
    partial skip it shows more people for goes back to its owner ("claimed").
    """
    existing = session.execute(
        select(EmailClaim.id, EmailClaim.state, EmailClaim.reason, EmailClaim.participants).where(
            EmailClaim.org_id == org_id, EmailClaim.message_key == key
        )
    ).first()
    if existing is None:
        return None
    known, revealed = _reveal(
        session, existing.id, frozenset(existing.participants or ()), frozenset(participants)
    )
    state = existing.state
    if sender_copy and state == WAITING:
        session.execute(
            update(EmailClaim)
            .where(EmailClaim.id == existing.id, EmailClaim.state == WAITING)
            .values(wait_until=now or utcnow())
        )
    elif state != WAITING and takes_over(
        state, existing.reason, revealed=bool(revealed), sender_copy=False
    ):
        # A partial skip reopens in place: its owner's copy, with what this one showed.
        reopened = session.execute(
            update(EmailClaim)
            .where(EmailClaim.id == existing.id, EmailClaim.state == state)
            .values(state="claimed", reason=None, decided_at=None, lease_until=None)
        ).rowcount
        state = "claimed" if reopened else state
    return ClaimResult(
        claim_id=existing.id,
        owned=False,
        state=state,
        reason=existing.reason,
        participants=known,
        revealed=revealed,
    )


def take_over(
    session: Session,
    claim_id: int,
    *,
    user_id: int,
    provider_message_id: str,
    expected_state: str,
    state: str,
    reason: str | None,
    now: datetime | None = None,
) -> ClaimResult | None:
    """This copy (which sees more) becomes the owner and its decision replaces the claim's.

    Conditional on the claim still being in `expected_state`, so of two copies racing only
    one takes over. None when the claim moved on meanwhile.
    """
    now = now or utcnow()
    c = session.get(EmailClaim, claim_id, with_for_update=True, populate_existing=True)
    if c is None or c.state != expected_state:
        return None
    # The old owner's copy is still a good copy (a possible heir): no note on its sighting.
    _transfer(session, c, user_id, provider_message_id, None)
    c.state, c.reason, c.wait_until = state, reason, None
    c.decided_at = now if state not in OPEN_STATES else None
    return ClaimResult(
        claim_id=c.id,
        owned=True,
        state=state,
        reason=reason,
        participants=frozenset(c.participants or ()),
    )


def sight(
    session: Session,
    *,
    org_id: int,
    user_id: int,
    key: str,
    provider_message_id: str,
    note: str | None = None,
) -> None:
    insert = dialect_insert(session)
    session.execute(
        insert(EmailSighting)
        .values(
            org_id=org_id,
            message_key=key,
            user_id=user_id,
            provider_message_id=provider_message_id,
            note=note,
            seen_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["org_id", "message_key", "user_id"])
    )


def hand_over(session: Session, claim_id: int, reason: str) -> bool:
    """The owner cannot finish (copy gone, token dead): pass the claim to another holder.

    Returns True when another mailbox took it, False when it is left orphaned for the next
    mailbox whose sync sees the message.
    """
    c = session.get(EmailClaim, claim_id, with_for_update=True)
    if c is None or c.state not in OPEN_STATES:
        return False
    heir = session.scalars(
        select(EmailSighting)
        .where(
            EmailSighting.org_id == c.org_id,
            EmailSighting.message_key == c.message_key,
            EmailSighting.user_id != c.owner_user_id,
            EmailSighting.note.is_(None),
        )
        .order_by(EmailSighting.seen_at, EmailSighting.id)
        .limit(1)
    ).first()
    if heir is None:
        c.state = ORPHANED
        c.reason = reason[:500]
        c.lease_until = c.lease_owner = None
        return False
    _transfer(session, c, heir.user_id, heir.provider_message_id, reason)
    return True


def adopt_orphan(
    session: Session, claim_id: int, crm_email_id: str, related_to: object = None
) -> bool:
    """An orphaned claim whose email an earlier attempt did log is logged with that record.

    Conditional on the claim still being orphaned: a copy that turned up meanwhile and took
    it over decides (and looks before it creates) itself.
    """
    c = session.get(EmailClaim, claim_id, with_for_update=True, populate_existing=True)
    if c is None or c.state != ORPHANED:
        return False
    c.state, c.reason, c.crm_email_id, c.decided_at = "logged", None, crm_email_id, utcnow()
    c.related_to = related_to if isinstance(related_to, dict) else None
    return True


def _transfer(
    session: Session, c: EmailClaim, user_id: int, provider_message_id: str, note: str | None
) -> None:
    """Make `user_id` the owner; the previous owner stays on record as a sighting saying why."""
    old_owner, old_id = c.owner_user_id, c.provider_message_id
    if old_owner != user_id:
        session.execute(
            delete(EmailSighting).where(
                EmailSighting.org_id == c.org_id,
                EmailSighting.message_key == c.message_key,
                EmailSighting.user_id == user_id,
            )
        )
    c.owner_user_id, c.provider_message_id = user_id, provider_message_id
    c.state, c.reason, c.lease_until, c.lease_owner = "claimed", None, None, None
    session.flush()
    if old_owner != user_id:
        sight(
            session,
            org_id=c.org_id,
            user_id=old_owner,
            key=c.message_key,
            provider_message_id=old_id,
            note=note[:100] if note else None,
        )
