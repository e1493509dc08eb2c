"""'Why?' for a two-way link (contacts, tasks; calendar links alike): the status row explained.

`describe_link(session, org_id, domain, key)` finds the org's link of `domain` by either side's
id (the mailbox record's id or the CRM record's id) and answers with its state and both ids,
whose mailbox it belongs to, when it was last written and when that user's run of the domain
last ended, what was decided for it and why (`decision_of`, pure), and the org's settings
that decided it (direction, conflict policy).

The engine records everything used here on the row (`sync/engine.py`, `sync/links.py`):
`conflict` (fields, the values that lost, the policy, when), `held` with `error` (what the
side said, e.g. a CRM contact with logged mail; none for the mass-deletion guard), `blocked`
with `error` (a final CRM error, or a possible duplicate waiting for review: its pair is in
`PossibleDuplicate`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from brightsync.models import (
    HeldDecision,
    ObjectLink,
    Organisation,
    PossibleDuplicate,
    SyncState,
    User,
)
from brightsync.ops.why import Explainer
from brightsync.review.duplicates import duplicate_out, record_key
from brightsync.review.held import held_out
from brightsync.sync.adapter import CRM, MAILBOX
from brightsync.times import iso

_OTHER = {MAILBOX: CRM, CRM: MAILBOX}


def decision_of(
    row: ObjectLink,
    duplicate: dict[str, Any] | None = None,
    held_decision: str | None = None,
) -> dict[str, Any]:
    """What the last run decided for this link and why (no I/O: the row and what was found
    about it). `duplicate`: the possible-duplicate pair the record waits on, if any."""
    if row.state == "deleted" or (row.mailbox_gone and row.crm_gone):
        first = [side for side in (MAILBOX, CRM) if getattr(row, f"{side}_gone")]
        return {
            "decision": "deleted",
            "why": "deleted on both sides"
            if len(first) == 2
            else f"deleted in the {first[0] if first else 'other side'}; nothing left to sync",
        }
    if row.held:
        out = held_out(row, held_decision)
        return {
            "decision": "held",
            "why": f"the deletion in the {out['deletedIn']} is not carried out in the "
            f"{out['deleteIn']}: {out['reason']}; it waits for review",
            "held": {k: out[k] for k in ("deleteIn", "deletedIn", "reason", "at", "decision")},
        }
    if row.blocked:
        if duplicate is not None or (row.error or "").startswith("possible duplicate"):
            found: dict[str, Any] = {
                "decision": "review",
                "why": row.error or "a possible duplicate waits for review",
            }
            if duplicate is not None:
                found["duplicate"] = duplicate
            return found
        return {
            "decision": "failed",
            "why": f"a write was refused for good: {row.error or 'no reason given'}; "
            "not tried again until either side's record changes",
        }
    if row.state == "creating" or row.intent_key:
        side = row.intent_side or (MAILBOX if row.mailbox_id is None else CRM)
        return {
            "decision": "creating",
            "why": f"a create in the {side} was sent and not yet confirmed; the next run "
            "looks for what it made before creating again",
        }
    found = {"decision": "synced", "why": "both sides agree"}
    if row.conflict:
        lost = row.conflict.get("lost") or {}
        losers = sorted(lost)
        winner = _OTHER[losers[0]] if len(losers) == 1 and losers[0] in _OTHER else None
        policy = row.conflict.get("policy")
        fields = ", ".join(row.conflict.get("fields") or [])
        found["why"] = (
            f"both sides changed {fields}; the conflict policy {policy!r} chose the "
            f"{winner or 'winning side'}'s values"
        )
        found["conflict"] = {**row.conflict, "winner": winner}
    return found


def explain_link(
    row: ObjectLink,
    options: dict[str, Any],
    *,
    user_email: str | None = None,
    last_run_at: datetime | None = None,
    duplicate: dict[str, Any] | None = None,
    held_decision: str | None = None,
) -> dict[str, Any]:
    """The explanation of one status row (no I/O). `options`: the org's settings of its domain."""
    return {
        "domain": row.domain,
        "link": row.id,
        "state": row.state,
        "mailboxId": row.mailbox_id,
        "crmId": row.crm_id,
        "userId": row.user_id,
        "mailbox": user_email,
        "lastSyncedAt": iso(row.updated_at),
        "lastRunAt": iso(last_run_at),
        **decision_of(row, duplicate, held_decision),
        "error": row.error,
        "errorAt": iso(row.error_at),
        "settings": {"direction": options.get("direction"), "conflict": options.get("conflict")},
    }


def _duplicate(session: Session, row: ObjectLink) -> dict[str, Any] | None:
    """The open (or latest) possible-duplicate pair of the link's record waiting for review."""
    if not row.blocked:
        return None
    keys = []
    if row.mailbox_id:
        keys.append(record_key(MAILBOX, row.mailbox_id, row.user_id))
    if row.crm_id:
        keys.append(record_key(CRM, row.crm_id))
    pair = session.scalars(
        select(PossibleDuplicate)
        .where(
            PossibleDuplicate.org_id == row.org_id,
            or_(PossibleDuplicate.key_a.in_(keys), PossibleDuplicate.key_b.in_(keys)),
        )
        .order_by(PossibleDuplicate.updated_at.desc(), PossibleDuplicate.id.desc())
        .limit(1)
    ).first()
    return None if pair is None else duplicate_out(pair)


def describe_link(session: Session, org_id: int, domain: str, key: str) -> dict[str, Any] | None:
    """Why the org's `domain` record with mailbox or CRM id `key` is as it is (None: no link).

    A CRM record may be linked to several users' mailboxes: the most recently written link is
    explained, the others are listed under `otherLinks`."""
    from brightsync.crm.settings import effective_settings

    rows = list(
        session.scalars(
            select(ObjectLink)
            .where(
                ObjectLink.org_id == org_id,
                ObjectLink.domain == domain,
                or_(ObjectLink.mailbox_id == key, ObjectLink.crm_id == key),
            )
            .order_by(ObjectLink.updated_at.desc(), ObjectLink.id.desc())
        )
    )
    if not rows:
        return None
    row = rows[0]
    org = session.get(Organisation, org_id)
    options = effective_settings(org.settings if org else None).get(domain, {})
    user = session.get(User, row.user_id)
    run = session.scalars(
        select(SyncState).where(SyncState.user_id == row.user_id, SyncState.service == domain)
    ).first()
    held_decision = None
    if row.held:
        decided = session.get(HeldDecision, row.id)
        held_decision = decided.decision if decided else None
    out = explain_link(
        row,
        options,
        user_email=user.email if user else None,
        last_run_at=run.last_sync_at if run else None,
        duplicate=_duplicate(session, row),
        held_decision=held_decision,
    )
    out["matchedBy"] = "mailboxId" if row.mailbox_id == key else "crmId"
    if len(rows) > 1:
        out["otherLinks"] = [
            {"link": r.id, "userId": r.user_id, "mailboxId": r.mailbox_id, "state": r.state}
            for r in rows[1:]
        ]
    return out


def link_explainer(domain: str) -> Explainer:
    """The "why" of a two-way domain's records: its status rows, keyed by either side's id."""

    def explain(session: Session, org_id: int, key: str) -> dict[str, Any] | None:
        return describe_link(session, org_id, domain, key)

    return explain
