"""Status for operators: what each user's service is doing, and each organisation's totals.

`health` is the operator's one-word answer (initialising, active, paused, needs_reauth,
failing; "review" joins when review mode lands), decided by `service_health` from the stored
rows alone; `state` stays the run state (idle, queued, running, error, never).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brightsync.connect.links import reconnect_url
from brightsync.crm.known_capabilities import capability_overrides
from brightsync.crm.reach import remembered_reach
from brightsync.models import (
    EmailClaim,
    Organisation,
    Subscription,
    SyncState,
    UnmatchedItem,
    User,
    utcnow,
)
from brightsync.sync.first_sync import first_sync_phase
from brightsync.sync.sweeps import safety_sync_period
from brightsync.times import iso

HEALTHS = ("initialising", "review", "active", "paused", "needs_reauth", "failing")


def service_health(
    *,
    user_paused: bool,
    service_paused: bool,
    mailbox_state: str,
    run_state: str | None,
    last_sync_at: datetime | None,
    last_error_at: datetime | None,
    in_review: bool = False,
) -> str:
    """The operator's state of one user's service, from its stored facts (pure)."""
    if user_paused or service_paused:
        return "paused"
    if mailbox_state != "ok":
        return "needs_reauth"
    failed_last = last_error_at is not None and (
        last_sync_at is None or last_error_at > last_sync_at
    )
    if run_state == "error" or failed_last:
        return "failing"
    if in_review:
        return "review"  # runs record what they would do; nothing is written yet
    if last_sync_at is None:
        return "initialising"
    return "active"


def next_run_at(
    health: str, pending_since: datetime | None, last_sync_at: datetime | None, now: datetime
) -> datetime | None:
    """When the next run starts at the latest: now if one is queued, else the safety sync's
    turn (`sync.sweeps`; a webhook may bring it sooner); None while paused or waiting for
    re-authorisation."""
    if health in ("paused", "needs_reauth"):
        return None
    if pending_since is not None:
        return max(now, pending_since)  # a follow-up may be due a little later
    if last_sync_at is None:
        return now
    return max(now, last_sync_at + safety_sync_period())


_HTTP_STATUS = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (\S+): (\d{3})?")


def error_cause(error: str | None, *, aurinko_url: str = "", crm_url: str = "") -> str | None:
    """Which side failed and how, in words, from a stored "Type: message" error (pure)."""
    if not error:
        return None
    lowered = error.lower()
    if "re-authoris" in lowered or "tokendeaderror" in lowered:
        return "the mailbox's Aurinko token was revoked or expired: the user must re-authorise"
    if "not available in this version" in lowered:
        return "this service is not available in this version"
    side = "an upstream API"
    status: str | None = None
    match = _HTTP_STATUS.search(error)
    if match:
        host = urlsplit(match.group(2)).netloc
        if crm_url and host == urlsplit(crm_url).netloc:
            side = "the CRM connector"
        elif aurinko_url and host == urlsplit(aurinko_url).netloc:
            side = "Aurinko"
        status = match.group(3)
    if error.startswith(("TransientError", "ConnectionError", "Timeout")) or (
        status and (status in ("408", "429") or status.startswith("5"))
    ):
        return f"{side} failed temporarily{f' ({status})' if status else ''}; retried with backoff"
    if error.startswith("AuthError") or status in ("401", "403"):
        return f"{side} refused the credentials ({status or 'auth'})"
    if status:
        return f"{side} refused a request ({status})"
    return f"an error inside BrightSync ({error.split(':', 1)[0]}); see the worker log"


def service_status(
    user: User,
    service: str,
    st: SyncState | None,
    sub: Subscription | None,
    *,
    aurinko_url: str = "",
    crm_url: str = "",
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or utcnow()
    health = service_health(
        user_paused=bool(user.paused),
        service_paused=bool(st and st.paused),
        mailbox_state=user.mailbox_state or "ok",
        run_state=st.state if st else None,
        last_sync_at=st.last_sync_at if st else None,
        last_error_at=st.last_error_at if st else None,
        in_review=user.mode == "review",
    )
    return {
        "state": st.state if st else "never",
        "health": health,
        "paused": bool(user.paused or (st and st.paused)),
        "lastSyncAt": iso(st.last_sync_at) if st else None,
        "nextRunAt": iso(
            next_run_at(
                health,
                st.pending_since if st else None,
                st.last_sync_at if st else None,
                now,
            )
        ),
        "lastError": st.last_error if st else None,
        "lastErrorAt": iso(st.last_error_at) if st else None,
        "lastErrorCause": error_cause(
            st.last_error if st else None, aurinko_url=aurinko_url, crm_url=crm_url
        ),
        "runs": st.runs if st else 0,
        "counts": (st.counters or {}) if st else {},
        "progress": st.progress if st and st.state == "running" else None,
        "firstSync": first_sync_phase(st.last_sync_at if st else None, st.state if st else None),
        "subscription": {
            "id": sub.aurinko_id,
            "state": sub.state,
            "healthy": sub.state == "active",
            "lastError": sub.last_error,
        }
        if sub
        else None,
    }


def services_of(session: Session, user: User, *, now: datetime | None = None) -> dict[str, Any]:
    """The status of every enabled service of `user`."""
    return services_for(session, [user], now=now)[user.id]


def services_for(
    session: Session, users: list[User], *, now: datetime | None = None
) -> dict[int, dict[str, Any]]:
    """Every enabled service's status of each of `users`, in three queries whatever their number."""
    from brightsync.config import get_settings

    ids = [u.id for u in users]
    states: dict[tuple[int, str], SyncState] = {}
    subs: dict[tuple[int, str], Subscription] = {}
    crm_urls: dict[int, str] = {}
    if ids:
        for st in session.scalars(select(SyncState).where(SyncState.user_id.in_(ids))):
            states[(st.user_id, st.service)] = st
        for sub in session.scalars(select(Subscription).where(Subscription.user_id.in_(ids))):
            subs[(sub.user_id, sub.service)] = sub
        org_ids = sorted({u.org_id for u in users})
        crm_urls = dict(
            session.execute(
                select(Organisation.id, Organisation.crm_base_url).where(
                    Organisation.id.in_(org_ids)
                )
            ).all()
        )
    aurinko_url = get_settings().aurinko_api_url
    return {
        user.id: {
            service: service_status(
                user,
                service,
                states.get((user.id, service)),
                subs.get((user.id, service)),
                aurinko_url=aurinko_url,
                crm_url=crm_urls.get(user.org_id, ""),
                now=now,
            )
            for service in user.services or []
        }
        for user in users
    }


# Organisation panels the domains add (held deletions, possible duplicates, …): name ->
# function(session, org_id) -> {"count": n, "items": [...]}. `brightsync.domains` holds them.
OrgPanel = Callable[[Session, int], dict[str, Any]]


def _user_rows(users: list[User], statuses: dict[int, dict[str, Any]]) -> tuple[list, dict]:
    by_health: dict[str, int] = {}
    rows = []
    for user in users:
        services = statuses[user.id]
        for svc in services.values():
            by_health[svc["health"]] = by_health.get(svc["health"], 0) + 1
        rows.append(
            {
                "id": user.id,
                "email": user.email,
                "paused": bool(user.paused),
                "mode": user.mode,
                "mailbox": {"state": user.mailbox_state, "error": user.mailbox_error},
                # The user authorises the mailbox again through it (issue 19).
                "reconnectUrl": reconnect_url(user) if user.mailbox_state != "ok" else None,
                "services": {
                    name: {k: svc[k] for k in ("state", "health", "lastSyncAt", "runs")}
                    for name, svc in services.items()
                },
            }
        )
    return rows, by_health


def org_summary(
    session: Session,
    org: Organisation,
    panels: Mapping[str, OrgPanel],
    *,
    cache_limit: int = 20,
) -> dict[str, Any]:
    """One organisation in detail: users by health, email decisions, the sync cache, and
    `panels` (`brightsync.domains.ORG_PANELS`)."""
    users = list(session.scalars(select(User).where(User.org_id == org.id).order_by(User.id)))
    user_rows, by_health = _user_rows(users, services_for(session, users))
    # Grouped over this organisation's claims only (its own index range), on demand.
    emails = dict(
        session.execute(
            select(EmailClaim.state, func.count())
            .where(EmailClaim.org_id == org.id)
            .group_by(EmailClaim.state)
        ).all()
    )
    cache_count = session.scalar(
        select(func.count()).select_from(UnmatchedItem).where(UnmatchedItem.org_id == org.id)
    )
    cache = [
        unmatched_out(item)
        for item in session.scalars(
            select(UnmatchedItem)
            .where(UnmatchedItem.org_id == org.id)
            .order_by(UnmatchedItem.created_at.desc(), UnmatchedItem.id.desc())
            .limit(cache_limit)
        )
    ]
    shown = {name: panel(session, org.id) for name, panel in panels.items()}
    return {
        "id": org.id,
        "name": org.name,
        "mode": org.mode,
        "totals": {
            "users": len(users),
            "services": by_health,
            "emails": {state: int(n) for state, n in emails.items()},
            "unmatched": int(cache_count or 0),
        },
        "users": user_rows,
        "unmatched": {"count": int(cache_count or 0), "items": cache},
        # Present once the domain that keeps them is installed; null means "not in this version".
        "heldDeletions": shown.pop("heldDeletions", None),
        "possibleDuplicates": shown.pop("possibleDuplicates", None),
        "panels": shown,
        # What the connector gets each domain, from what discovery remembered (never asked
        # from here: a status request sends nothing to the CRM).
        "connector": remembered_reach(
            org.crm_capabilities, capability_overrides(org), iso(org.crm_capabilities_at)
        ),
    }


def overview(session: Session) -> list[dict[str, Any]]:
    """Every organisation's users and services by health and its cache size, in five queries
    whatever the number of organisations (no per-organisation email counts: see org_summary)."""
    orgs = list(session.scalars(select(Organisation).order_by(Organisation.id)))
    users = list(session.scalars(select(User).order_by(User.org_id, User.id)))
    statuses = services_for(session, users)
    cache = dict(
        session.execute(
            select(UnmatchedItem.org_id, func.count()).group_by(UnmatchedItem.org_id)
        ).all()
    )
    out = []
    for org in orgs:
        members = [u for u in users if u.org_id == org.id]
        rows, by_health = _user_rows(members, statuses)
        out.append(
            {
                "id": org.id,
                "name": org.name,
                "totals": {
                    "users": len(members),
                    "services": by_health,
                    "unmatched": int(cache.get(org.id, 0)),
                },
                "users": rows,
            }
        )
    return out


def unmatched_out(r: UnmatchedItem) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "key": r.key,
        "subject": r.subject,
        "addresses": r.addresses,
        "reason": r.reason,
        "attempts": r.attempts,
        "nextRetryAt": iso(r.next_retry_at),
        "expiresAt": iso(r.expires_at),
        "lastAttemptAt": iso(r.last_attempt_at),
        "userId": r.user_id,
    }


def recent_decisions(session: Session, org_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The latest email decisions of an organisation (the dashboard links each to its "why")."""
    rows = session.scalars(
        select(EmailClaim)
        .where(EmailClaim.org_id == org_id)
        .order_by(EmailClaim.claimed_at.desc(), EmailClaim.id.desc())
        .limit(limit)
    )
    return [
        {
            "kind": "email",
            "key": c.internet_message_id or c.message_key,
            "subject": c.subject,
            "state": c.state,
            "reason": c.reason,
            "direction": c.direction,
            "ownerUserId": c.owner_user_id,
            "decidedAt": iso(c.decided_at),
            "claimedAt": iso(c.claimed_at),
        }
        for c in rows
    ]
