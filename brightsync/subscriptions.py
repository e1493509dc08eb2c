"""A user's Aurinko webhook subscriptions: create what is missing, report what failed."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from brightsync.clients.aurinko import SERVICE_RESOURCES, AurinkoClient, TokenDeadError
from brightsync.clients.http import ApiError
from brightsync.config import get_settings
from brightsync.crypto import decrypt
from brightsync.db import session_scope
from brightsync.models import Subscription, User, utcnow

log = logging.getLogger(__name__)


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


def ensure_subscriptions(user_id: int) -> list[dict[str, Any]]:
    """Make sure each of the user's services has a live subscription; one result per service."""
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            return []
        client = aurinko_for(user)
        services = [svc for svc in user.services or [] if svc in SERVICE_RESOURCES]
        existing = {
            sub.service: (sub.aurinko_id, sub.state)
            for sub in s.scalars(select(Subscription).where(Subscription.user_id == user_id))
        }
    url = notification_url()
    try:
        live = {str(item.get("id")): item for item in client.list_subscriptions()}
    except TokenDeadError as exc:
        return [{"service": svc, "created": False, "error": str(exc)} for svc in services]
    except ApiError as exc:
        log.warning("cannot list subscriptions of user %s: %s", user_id, exc)
        live = {}
    results = []
    for service in services:
        resource = SERVICE_RESOURCES[service]
        aurinko_id, state = existing.get(service, (None, None))
        current = live.get(str(aurinko_id)) if aurinko_id else None
        if current is not None and current.get("active", True) and state != "error":
            results.append({"service": service, "created": False, "id": aurinko_id})
            continue
        error = None
        new_id = None
        try:
            if current is not None:
                client.delete_subscription(aurinko_id)
            created = client.create_subscription(resource, url)
            new_id = str(created.get("id"))
        except ApiError as exc:
            error = str(exc)
            log.warning("subscription %s for user %s failed: %s", resource, user_id, exc)
        with session_scope() as s:
            sub = s.scalar(
                select(Subscription).where(
                    Subscription.user_id == user_id, Subscription.resource == resource
                )
            )
            if sub is None:
                sub = Subscription(user_id=user_id, service=service, resource=resource)
                s.add(sub)
            sub.aurinko_id = new_id or sub.aurinko_id
            sub.state = "active" if error is None else "failed"
            sub.last_error = error[:1000] if error else None
            sub.updated_at = utcnow()
        results.append({"service": service, "created": error is None, "id": new_id, "error": error})
    return results
