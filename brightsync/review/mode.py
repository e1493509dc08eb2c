"""Review mode: syncs of a user or organisation in `review` record what they would do and
write nothing; activation switches them to live, and the first live run does that work.

Why activation does exactly the reviewed work: review runs never advance a cursor (the
two-way engine skips storing them, the email review reads pages without checkpointing), make
no email claims and no link rows. The first live run therefore reads the same changes from
the same positions and decides them the same way, through the ordinary exactly-once path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from brightsync.db import session_scope
from brightsync.models import MODES, Organisation, ReviewReport, User, utcnow
from brightsync.sync import scheduler
from brightsync.sync.queue import publish_sync

# Items kept per report (the counts always cover everything).
MAX_ITEMS = 500


class ModeError(ValueError):
    pass


def in_review(session: Session, user_id: int) -> bool:
    """True when the user or its organisation is in review mode (`sync.run` asks once, before
    a run starts, and the run carries the answer)."""
    row = session.execute(
        select(User.mode, Organisation.mode)
        .join(Organisation, Organisation.id == User.org_id)
        .where(User.id == user_id)
    ).one_or_none()
    return row is not None and "review" in (row[0], row[1])


def record(user_id: int, service: str, report: dict[str, Any]) -> None:
    """Store the latest review run's report of a user and service (replacing the last)."""
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            return
        row = s.scalars(
            select(ReviewReport).where(
                ReviewReport.user_id == user_id, ReviewReport.service == service
            )
        ).one_or_none()
        if row is None:
            s.add(ReviewReport(org_id=user.org_id, user_id=user_id, service=service, report=report))
        else:
            row.report = report
            row.created_at = utcnow()


def plan_report(described: dict[str, Any]) -> dict[str, Any]:
    """A two-way plan (`Plan.describe()`) as a review report: counts plus the first steps."""
    steps = [s for s in described.get("steps", []) if s.get("writes") or s["kind"] == "hold"]
    return {
        "counts": described.get("counts", {}),
        "writes": described.get("writes", 0),
        "held": described.get("held", {}),
        "steps": steps[:MAX_ITEMS],
        "truncated": len(steps) > MAX_ITEMS,
    }


def report_for(session: Session, *, org_id: int | None = None, user_id: int | None = None) -> dict:
    """The pre-sync report of an organisation or one user: per user and service, and the
    emails that would be logged across the organisation (one entry per message)."""
    where = [ReviewReport.org_id == org_id] if org_id is not None else []
    if user_id is not None:
        where.append(ReviewReport.user_id == user_id)
    rows = session.scalars(
        select(ReviewReport).where(*where).order_by(ReviewReport.user_id, ReviewReport.service)
    ).all()
    users: dict[int, dict[str, Any]] = {}
    emails: dict[str, dict[str, Any]] = {}
    for row in rows:
        users.setdefault(row.user_id, {})[row.service] = {
            **row.report,
            "recordedAt": row.created_at.isoformat(),
        }
        for item in row.report.get("emails", []):
            emails.setdefault(item["key"], {**item, "mailboxes": []})["mailboxes"].append(
                row.user_id
            )
    logged = [e for e in emails.values() if e["outcome"] == "log"]
    return {
        "users": [{"id": uid, "services": services} for uid, services in users.items()],
        "emails": {
            "toLog": logged,
            "unmatched": [e for e in emails.values() if e["outcome"] == "unmatched"],
            "count": len(logged),
        },
    }


def set_mode(*, mode: str, org_id: int | None = None, user_id: int | None = None) -> list[int]:
    """Put an organisation (and all its users) or one user in `mode`; returns the user ids."""
    if mode not in MODES:
        raise ModeError(f"mode must be one of {', '.join(MODES)}")
    with session_scope() as s:
        if org_id is not None:
            org = s.get(Organisation, org_id)
            if org is None:
                raise LookupError("organisation not found")
            org.mode = mode
            users = list(s.scalars(select(User).where(User.org_id == org_id)))
        else:
            user = s.get(User, user_id)
            if user is None:
                raise LookupError("user not found")
            users = [user]
            if mode == "live" and user.org.mode == "review":
                raise ModeError("the organisation is in review mode: activate the organisation")
        for user in users:
            user.mode = mode
        return [u.id for u in users]


def activate(*, org_id: int | None = None, user_id: int | None = None) -> dict[str, Any]:
    """Switch to live and queue a run of every service: it does the reviewed work."""
    user_ids = set_mode(mode="live", org_id=org_id, user_id=user_id)
    queued = 0
    with session_scope() as s:
        services = {
            u.id: list(u.services or [])
            for u in s.scalars(select(User).where(User.id.in_(user_ids)))
        }
    for uid, names in services.items():
        for service in names:
            if scheduler.request_and_publish(uid, service, publish_sync):
                queued += 1
    return {"mode": "live", "users": sorted(user_ids), "queued": queued}
