"""Removing a user, or an organisation with all its users.

A user's removal is one transaction: the email claims it owned pass to colleagues' copies
(`email.departure`), the meetings it owned too (`calendar.claims.copy_gone`), then every row
of its own goes, with its token. What was logged in the CRM stays there. Its Aurinko
subscriptions are deleted afterwards by a task that retries (`subscriptions.unsubscribe`);
a run still going loses its lease with its sync_state row and stops at its next fenced step,
and a task that arrives later finds no user and does nothing.

An organisation's removal deletes every row that carries its `org_id` (found from the models,
so a table added later is covered), every row of its users, and the organisation.

Both answer counts per table; removing what is already gone answers None (the API: 404).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Table, delete, func, or_, select
from sqlalchemy.orm import Session

from brightsync import subscriptions
from brightsync.calendar.claims import copy_gone
from brightsync.db import session_scope
from brightsync.email import departure
from brightsync.email.queue import publish_after_commit
from brightsync.models import (
    Base,
    CacheEntry,
    HeldDecision,
    MeetingClaim,
    ObjectLink,
    Organisation,
    PossibleDuplicate,
    UnmatchedItem,
    User,
)


def _count(counts: Counter[str], table: str, n: int) -> None:
    if n:
        counts[table] += n


def _user_tables() -> list[Table]:
    """Tables whose rows belong to one user (a `user_id` column, a foreign key or, as the
    notification log's, a plain id), children first."""
    return [
        t
        for t in reversed(Base.metadata.sorted_tables)
        if "user_id" in t.c and t.name != User.__tablename__
    ]


def _org_tables() -> list[Table]:
    """Tables whose rows belong to one organisation (an `org_id` column), children first."""
    return [t for t in reversed(Base.metadata.sorted_tables) if "org_id" in t.c]


def _pass_meetings(session: Session, user: User) -> int:
    """Meetings the user owned pass to an attendee colleague's copy; how many found an heir."""
    keys = list(
        session.scalars(
            select(MeetingClaim.meeting_key).where(MeetingClaim.owner_user_id == user.id)
        )
    )
    passed = 0
    for key in keys:
        heir = copy_gone(session, user.org_id, user.id, key)
        if heir is not None:
            passed += 1
            session.execute(
                UnmatchedItem.__table__.update()
                .where(
                    UnmatchedItem.org_id == user.org_id,
                    UnmatchedItem.kind == "meeting",
                    UnmatchedItem.key == key,
                )
                .values(user_id=heir)
            )
    return passed


def _delete_user_rows(session: Session, user_ids: list[int], counts: Counter[str]) -> None:
    links = select(ObjectLink.id).where(ObjectLink.user_id.in_(user_ids))
    _count(
        counts,
        HeldDecision.__tablename__,
        session.execute(delete(HeldDecision).where(HeldDecision.link_id.in_(links))).rowcount,
    )
    for table in _user_tables():
        _count(
            counts,
            table.name,
            session.execute(delete(table).where(table.c.user_id.in_(user_ids))).rowcount,
        )
    for uid in user_ids:  # pairs naming the user's mailbox records: "mailbox:<userId>:<id>"
        prefix = f"mailbox:{uid}:"
        _count(
            counts,
            PossibleDuplicate.__tablename__,
            session.execute(
                delete(PossibleDuplicate).where(
                    or_(
                        PossibleDuplicate.key_a.startswith(prefix, autoescape=True),
                        PossibleDuplicate.key_b.startswith(prefix, autoescape=True),
                    )
                )
            ).rowcount,
        )


def remove_user(user_id: int) -> dict[str, Any] | None:
    """Remove one user; what was removed and passed on, or None when there is no such user."""
    counts: Counter[str] = Counter()
    with session_scope() as s:
        # FOR UPDATE: on PostgreSQL a run inserting a claim for this user waits, then fails.
        user = s.get(User, user_id, with_for_update=True)
        if user is None:
            return None
        org_id, token_enc = user.org_id, user.access_token_enc
        unsubscribe = subscriptions.aurinko_ids(s, user_id)
        email = departure.pass_on(s, user_id, leaving=True)
        meetings = _pass_meetings(s, user)
        s.flush()
        _delete_user_rows(s, [user_id], counts)
        s.delete(user)
        counts[User.__tablename__] += 1
        if email.reopened:  # the heirs finish what this mailbox had not
            publish_after_commit(s, email.reopened)
    subscriptions.unsubscribe(token_enc, unsubscribe)
    return {
        "userId": user_id,
        "orgId": org_id,
        "removed": dict(sorted(counts.items())),
        "passedOn": {"emailClaims": email.passed, "meetings": meetings},
        "keptWithoutOwner": {"emailClaims": email.kept},
        "aurinkoSubscriptionsDeleting": len(unsubscribe),
    }


def remove_org(org_id: int) -> dict[str, Any] | None:
    """Remove an organisation: every user's rows and subscriptions, then every row with its
    org_id; what was removed, or None when there is no such organisation."""
    counts: Counter[str] = Counter()
    with session_scope() as s:
        org = s.get(Organisation, org_id, with_for_update=True)
        if org is None:
            return None
        users = list(s.scalars(select(User).where(User.org_id == org_id).with_for_update()))
        user_ids = [u.id for u in users]
        leaving = [(u.access_token_enc, subscriptions.aurinko_ids(s, u.id)) for u in users]
        s.flush()
        _delete_user_rows(s, user_ids, counts)
        for table in _org_tables():
            if table.name == User.__tablename__:
                continue
            _count(
                counts,
                table.name,
                s.execute(delete(table).where(table.c.org_id == org_id)).rowcount,
            )
        _count(
            counts,
            User.__tablename__,
            s.execute(delete(User).where(User.org_id == org_id)).rowcount,
        )
        # Shared answers kept for the organisation (opportunity lookups: "opps:<org id>:…").
        _count(
            counts,
            CacheEntry.__tablename__,
            s.execute(
                delete(CacheEntry).where(
                    CacheEntry.key.startswith(f"opps:{org_id}:", autoescape=True)
                )
            ).rowcount,
        )
        s.execute(delete(Organisation).where(Organisation.id == org_id))
        counts[Organisation.__tablename__] += 1
    deleting = 0
    for token_enc, ids in leaving:
        subscriptions.unsubscribe(token_enc, ids)
        deleting += len(ids)
    return {
        "orgId": org_id,
        "users": user_ids,
        "removed": dict(sorted(counts.items())),
        "aurinkoSubscriptionsDeleting": deleting,
    }


def org_rows(session: Session, org_id: int, user_ids: list[int]) -> dict[str, int]:
    """Rows still held for an organisation and its users, per table (none after removal)."""
    out = {}
    for table in Base.metadata.sorted_tables:
        conds = []
        if "org_id" in table.c:
            conds.append(table.c.org_id == org_id)
        if "user_id" in table.c and user_ids:
            conds.append(table.c.user_id.in_(user_ids))
        if table.name == Organisation.__tablename__:
            conds.append(table.c.id == org_id)
        if conds:
            n = session.scalar(select(func.count()).select_from(table).where(or_(*conds)))
            if n:
                out[table.name] = n
    return out
