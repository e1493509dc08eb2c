"""Global threads in the database: apply a pure ThreadPlan to the org's key -> thread table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brightsync.db import dialect_insert
from brightsync.email.threads import plan_thread, provider_thread_key, thread_keys
from brightsync.models import EmailClaim, ThreadAlias, ThreadKey


def resolve(session: Session, org_id: int, thread_id: str) -> str:
    """Follow merges: the id an old thread id lives on as."""
    for _ in range(20):  # aliases form a chain to ever-older ids; bounded anyway
        newer = session.scalar(
            select(ThreadAlias.new_id).where(
                ThreadAlias.org_id == org_id, ThreadAlias.old_id == thread_id
            )
        )
        if newer is None or newer == thread_id:
            return thread_id
        thread_id = newer
    return thread_id


def assign_thread(
    session: Session, org_id: int, msg: Mapping[str, Any], account_id: str
) -> tuple[str, list[str]]:
    """The message's syncThreadId, recording its keys; returns (thread_id, moved CRM ids).

    Moved CRM ids are emails already logged under a thread that this message merged away:
    their syncThreadId in the CRM should be updated to thread_id.

    Runs in a savepoint and is retried when another worker recorded one of the same keys at
    the same moment (the unique key on org + key decides who was first).
    """
    keys = thread_keys(msg)
    pkey = provider_thread_key(account_id, msg.get("threadId"))
    lookup = keys + ([pkey] if pkey else [])
    for _attempt in range(5):
        known = (
            {
                row.key: row.thread_id
                for row in session.execute(
                    select(ThreadKey.key, ThreadKey.thread_id).where(
                        ThreadKey.org_id == org_id, ThreadKey.key.in_(lookup)
                    )
                )
            }
            if lookup
            else {}
        )
        plan = plan_thread(keys, known, pkey)
        try:
            with session.begin_nested():
                insert = dialect_insert(session)
                for key in plan.unassigned:
                    session.execute(
                        insert(ThreadKey)
                        .values(org_id=org_id, key=key[:255], thread_id=plan.thread_id)
                        .on_conflict_do_nothing(index_elements=["org_id", "key"])
                    )
                moved: list[str] = []
                for old in plan.merged:
                    moved += _merge(session, org_id, old, plan.thread_id)
            # A concurrent insert may have won a key: re-plan if our view is now stale.
            if plan.unassigned:
                winners = set(
                    session.scalars(
                        select(ThreadKey.thread_id).where(
                            ThreadKey.org_id == org_id, ThreadKey.key.in_(plan.unassigned)
                        )
                    )
                )
                if winners - {plan.thread_id}:
                    continue
            return plan.thread_id, moved
        except IntegrityError:
            continue
    return plan.thread_id, []


def _merge(session: Session, org_id: int, old: str, new: str) -> list[str]:
    moved = list(
        session.scalars(
            select(EmailClaim.crm_email_id).where(
                EmailClaim.org_id == org_id,
                EmailClaim.thread_id == old,
                EmailClaim.crm_email_id.is_not(None),
            )
        )
    )
    session.execute(
        update(ThreadKey)
        .where(ThreadKey.org_id == org_id, ThreadKey.thread_id == old)
        .values(thread_id=new)
    )
    session.execute(
        update(EmailClaim)
        .where(EmailClaim.org_id == org_id, EmailClaim.thread_id == old)
        .values(thread_id=new)
    )
    session.execute(
        update(ThreadAlias)
        .where(ThreadAlias.org_id == org_id, ThreadAlias.new_id == old)
        .values(new_id=new)
    )
    session.execute(
        dialect_insert(session)(ThreadAlias)
        .values(org_id=org_id, old_id=old, new_id=new)
        .on_conflict_do_nothing(index_elements=["org_id", "old_id"])
    )
    return moved
