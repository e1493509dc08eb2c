"""A user's Aurinko webhook subscriptions: create what is missing, report what failed.

Registration only records one `pending` row per service; a Celery task creates the
subscriptions afterwards (Aurinko's validation handshake calls back into the web process, so
the web request must not wait for it). The task and the periodic check both call
`ensure_subscriptions`, under a per-user lock so two of them never create twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from brightsync.clients.aurinko import SERVICE_RESOURCES, AurinkoClient, TokenDeadError
from brightsync.clients.http import ApiError, TransientError
from brightsync.config import get_settings
from brightsync.coordination import singleton
from brightsync.crypto import decrypt
from brightsync.db import session_scope
from brightsync.models import Subscription, User, utcnow

log = logging.getLogger(__name__)

# pending: not created yet (or a transient failure is being retried); active: Aurinko confirmed
# it; failed: Aurinko refused it (reason kept); error: Aurinko reported delivery trouble.
PENDING, ACTIVE, FAILED = "pending", "active", "failed"


class SubscriptionsBusy(Exception):
    """Another process is creating this user's subscriptions right now."""


@dataclass
class Outcome:
    service: str
    state: str
    id: str | None = None
    error: str | None = None
    created: bool = False
    transient: bool = False


def notification_url() -> str:
    return get_settings().public_url + "/webhooks/aurinko"


def aurinko_for(user: User) -> AurinkoClient:
    settings = get_settings()
    return AurinkoClient.for_account(
        settings.aurinko_api_url,
        decrypt(user.access_token_enc),
        app_key=settings.aurinko_client_id or "default",
        rate_limit=settings.aurinko_rate_per_second,
    )


def wanted_services(user: User) -> list[str]:
    return [svc for svc in user.services or [] if svc in SERVICE_RESOURCES]


def add_pending(session: Session, user: User) -> None:
    """Record a `pending` subscription per service, in the transaction that adds the user."""
    for service in wanted_services(user):
        session.add(
            Subscription(
                user=user, service=service, resource=SERVICE_RESOURCES[service], state=PENDING
            )
        )


def describe(session: Session, user_id: int) -> list[dict[str, Any]]:
    """The user's subscriptions as the admin API shows them."""
    subs = session.scalars(
        select(Subscription).where(Subscription.user_id == user_id).order_by(Subscription.id)
    )
    return [
        {
            "service": sub.service,
            "resource": sub.resource,
            "id": sub.aurinko_id,
            "state": sub.state,
            "lastError": sub.last_error,
            "updatedAt": sub.updated_at.isoformat() if sub.updated_at else None,
        }
        for sub in subs
    ]


def find_live(
    live: list[dict[str, Any]], recorded_id: str | None, resource: str, url: str
) -> dict[str, Any] | None:
    """The live subscription that serves `resource`: the recorded one, else one a lost answer
    may have created (same resource and notification URL), so nothing is created twice."""
    active = [item for item in live if item.get("active", True)]
    for item in active:
        if recorded_id is not None and str(item.get("id")) == recorded_id:
            return item
    for item in active:
        if item.get("resource") == resource and item.get("notificationUrl") == url:
            return item
    return None


def _save(user_id: int, outcome: Outcome) -> None:
    resource = SERVICE_RESOURCES[outcome.service]
    with session_scope() as s:
        sub = s.scalar(
            select(Subscription).where(
                Subscription.user_id == user_id, Subscription.resource == resource
            )
        )
        if sub is None:
            sub = Subscription(user_id=user_id, service=outcome.service, resource=resource)
            s.add(sub)
        sub.aurinko_id = outcome.id or sub.aurinko_id
        sub.state = outcome.state
        sub.last_error = outcome.error[:1000] if outcome.error else None
        sub.updated_at = utcnow()
        sub.checked_at = sub.updated_at if outcome.state == ACTIVE else None


def _verified(user_id: int, service: str) -> None:
    """Aurinko still has it: the periodic check leaves it alone for VERIFY_EVERY."""
    with session_scope() as s:
        s.execute(
            update(Subscription)
            .where(Subscription.user_id == user_id, Subscription.service == service)
            .values(checked_at=utcnow())
        )


# The periodic check asks Aurinko about an active subscription at most this often (a lost
# one is also noticed by the safety sync, which syncs mailboxes whose webhooks went quiet).
VERIFY_EVERY = timedelta(hours=24)


def due_for_check(session: Session, now: datetime | None = None) -> list[int]:
    """Users with a subscription to create or repair, or not verified for VERIFY_EVERY.

    Indexed on (state, checked_at): the cost follows the subscriptions due, not every user.
    """
    cutoff = (now or utcnow()) - VERIFY_EVERY
    return sorted(
        set(
            session.scalars(
                select(Subscription.user_id)
                .join(User, User.id == Subscription.user_id)
                .where(
                    User.mailbox_state == "ok",
                    or_(
                        Subscription.state.in_((PENDING, FAILED, "error")),
                        and_(
                            Subscription.state == ACTIVE,
                            or_(
                                Subscription.checked_at.is_(None), Subscription.checked_at < cutoff
                            ),
                        ),
                    ),
                )
            )
        )
    )


def ensure_subscriptions(user_id: int) -> list[Outcome]:
    """Make sure each of the user's services has a live subscription; one outcome per service.

    Transient Aurinko trouble leaves a service `pending` with `transient=True` (the caller
    retries later); a refusal marks it `failed` with Aurinko's reason. Raises
    SubscriptionsBusy when another process holds this user's lock.
    """
    with singleton(f"subscriptions:{user_id}", 300) as mine:
        if not mine:
            raise SubscriptionsBusy(f"subscriptions of user {user_id} are being created")
        return _ensure(user_id)


def _ensure(user_id: int) -> list[Outcome]:
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            return []
        client = aurinko_for(user)
        services = wanted_services(user)
        recorded = {
            sub.service: (sub.aurinko_id, sub.state)
            for sub in s.scalars(select(Subscription).where(Subscription.user_id == user_id))
        }
    url = notification_url()
    try:
        live = client.list_subscriptions()
    except TransientError as exc:
        outcomes = [
            Outcome(svc, PENDING, error=f"retrying: {exc}", transient=True) for svc in services
        ]
        for outcome in outcomes:
            if recorded.get(outcome.service, (None, None))[1] != ACTIVE:
                _save(user_id, outcome)
        return outcomes
    except TokenDeadError as exc:
        outcomes = [Outcome(svc, FAILED, error=str(exc)) for svc in services]
        for outcome in outcomes:
            _save(user_id, outcome)
        return outcomes

    outcomes = []
    for service in services:
        resource = SERVICE_RESOURCES[service]
        recorded_id, state = recorded.get(service, (None, None))
        current = find_live(live, recorded_id, resource, url)
        if current is not None and state != "error":
            outcome = Outcome(service, ACTIVE, id=str(current.get("id")))
            if (recorded_id, state) != (outcome.id, ACTIVE):
                _save(user_id, outcome)
            else:
                _verified(user_id, service)
            outcomes.append(outcome)
            continue
        outcome = _create(client, service, resource, url, current)
        log.log(
            logging.INFO if outcome.state == ACTIVE else logging.WARNING,
            "subscription %s for user %s: %s%s",
            resource,
            user_id,
            outcome.state,
            f" ({outcome.error})" if outcome.error else "",
        )
        _save(user_id, outcome)
        outcomes.append(outcome)
    return outcomes


def _create(
    client: AurinkoClient, service: str, resource: str, url: str, broken: dict[str, Any] | None
) -> Outcome:
    try:
        if broken is not None:
            # Aurinko reported delivery errors on it: replace it with a fresh, verified one.
            client.delete_subscription(broken["id"])
        created = client.create_subscription(resource, url)
    except TransientError as exc:
        return Outcome(service, PENDING, error=f"retrying: {exc}", transient=True)
    except ApiError as exc:
        return Outcome(service, FAILED, error=str(exc))
    return Outcome(service, ACTIVE, id=str(created.get("id")), created=True)


def fail_pending(user_id: int, reason: str) -> None:
    """Give up on the retries: pending subscriptions become failed with the last reason."""
    with session_scope() as s:
        for sub in s.scalars(
            select(Subscription).where(
                Subscription.user_id == user_id, Subscription.state == PENDING
            )
        ):
            sub.state = FAILED
            sub.last_error = reason[:1000]
            sub.updated_at = utcnow()


# Registration's subscription task retries transient Aurinko trouble for about an hour
# (5 s doubling, capped at 10 min) before marking what is still pending as failed; the
# periodic check (`check_due`) picks failed ones up again later.
RETRIES = 10
MAX_COUNTDOWN = 600
BUSY_COUNTDOWN = 5


def retry_countdown(retries: int) -> int:
    return min(MAX_COUNTDOWN, 5 * 2**retries)


def ensure_attempt(user_id: int, retries: int) -> tuple[dict[str, str], int | None]:
    """One attempt of registration's subscription task (`retries` before it): the state of
    each service, and the countdown to the next attempt (None: no further attempt)."""
    try:
        outcomes = ensure_subscriptions(user_id)
    except SubscriptionsBusy:
        return {}, BUSY_COUNTDOWN
    transient = [o for o in outcomes if o.transient]
    if transient:
        if retries < RETRIES:
            return {}, retry_countdown(retries)
        fail_pending(user_id, transient[0].error or "Aurinko kept failing")
    return {o.service: o.state for o in outcomes}, None


def check_due() -> int:
    """Create pending or failing subscriptions, and recreate lost ones: each user with a
    subscription not active, or not verified at Aurinko for a day (O(due), not every user).
    Returns how many were created."""
    with singleton("subscription-check", 3600) as mine:
        if not mine:
            return 0
        with session_scope() as s:
            user_ids = due_for_check(s)
        fixed = 0
        for user_id in user_ids:
            try:
                fixed += sum(1 for r in ensure_subscriptions(user_id) if r.created)
            except SubscriptionsBusy:
                continue  # the registration task is on it
            except Exception:
                log.exception("subscription check failed for user %s", user_id)
        return fixed


# --- removing subscriptions (a service turned off, a user or organisation removed) -----------


def aurinko_ids(session: Session, user_id: int, services: list[str] | None = None) -> list[str]:
    """The Aurinko ids of the user's subscriptions (of `services`, or all)."""
    query = select(Subscription.aurinko_id).where(
        Subscription.user_id == user_id, Subscription.aurinko_id.is_not(None)
    )
    if services is not None:
        query = query.where(Subscription.service.in_(services))
    return [str(i) for i in session.scalars(query)]


def drop(session: Session, user_id: int, services: list[str]) -> list[str]:
    """Forget the user's subscription rows of `services`; the Aurinko ids to delete there
    (`unsubscribe`, after the transaction commits)."""
    ids = aurinko_ids(session, user_id, services)
    session.execute(
        delete(Subscription).where(
            Subscription.user_id == user_id, Subscription.service.in_(services)
        )
    )
    return ids


def unsubscribe(token_enc: str, ids: list[str]) -> None:
    """Delete these subscriptions at Aurinko by a task (retried with backoff), so neither the
    request nor the removal waits for Aurinko; a broker that refuses it gets one try now."""
    from brightsync.sync.queue import publish_unsubscribe

    if not ids:
        return
    try:
        publish_unsubscribe(ids, token_enc)
    except Exception as exc:  # noqa: BLE001 - the removal stands whatever happens here
        log.warning("subscription removal not queued (%s); trying once now", type(exc).__name__)
        left = delete_at_aurinko(token_enc, ids)
        if left:
            log.warning("%d Aurinko subscription(s) left to expire at Aurinko", len(left))


def delete_at_aurinko(token_enc: str, ids: list[str]) -> list[str]:
    """DELETE /v1/subscriptions/{id} with the account's token; the ids still to delete after
    transient trouble. One already gone (404) is deleted; a token that no longer works cannot
    delete anything, and no retry would help: logged and given up."""
    settings = get_settings()
    client = AurinkoClient.for_account(
        settings.aurinko_api_url,
        decrypt(token_enc),
        app_key=settings.aurinko_client_id or "default",
        rate_limit=settings.aurinko_rate_per_second,
    )
    left = []
    for sub_id in ids:
        try:
            client.delete_subscription(sub_id)
        except TransientError:
            left.append(sub_id)
        except ApiError as exc:
            if exc.status != 404:
                log.warning("Aurinko subscription %s not deleted: %s", sub_id, exc.status)
    return left


def unsubscribe_attempt(
    ids: list[str], token_enc: str, retries: int
) -> tuple[list[str], int | None]:
    """One attempt of the removal task: the ids left, and the countdown to the next attempt
    (None: done, or given up after RETRIES)."""
    left = delete_at_aurinko(token_enc, ids)
    if not left:
        return [], None
    if retries >= RETRIES:
        log.warning("gave up deleting %d Aurinko subscription(s)", len(left))
        return left, None
    return left, retry_countdown(retries)
