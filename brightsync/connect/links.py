"""Connect links and authorisation states in the database.

A link (`/connect/{key}`) is made by the admin API for a mailbox to come; a user's reconnect
link (`/connect/users/{id}/{signature}`) needs no row, it is signed. Opening either records a
state row (its nonce inside the signed `state` sent to Aurinko) and answers Aurinko's authorize
URL. The callback spends the state with one conditional UPDATE, so a replay finds it spent,
and claims the link the same way, so a link connects one mailbox only.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from brightsync.clients.aurinko import AurinkoClient
from brightsync.clients.http import RetryPolicy
from brightsync.config import Settings, get_settings
from brightsync.connect import state as S
from brightsync.crypto import decrypt, derived_keys
from brightsync.db import session_scope
from brightsync.models import ConnectLink, ConnectState, Organisation, User, utcnow
from brightsync.times import iso

log = logging.getLogger(__name__)
PURPOSE = "connect-state"


class Refused(Exception):
    """The flow stops here: a page with `status` and `message`; nothing was stored.
    `return_url`: the provider's page to go back to, when the link named one."""

    def __init__(self, status: int, message: str, return_url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.return_url = return_url


@dataclass(frozen=True)
class Choice:
    """The user must pick a mailbox provider first (the link named none)."""

    email: str | None
    types: dict[str, str] = field(default_factory=lambda: dict(S.MAILBOX_TYPES))


@dataclass(frozen=True)
class Spent:
    """A spent state: what the authorisation it started was for."""

    org_id: int
    link_id: int | None
    user_id: int | None
    email: str | None
    crm_user_id: str | None
    services: list[str]
    mode: str
    return_url: str | None


def callback_url(settings: Settings) -> str:
    """Where Aurinko sends the user back (register it among the app's return URLs)."""
    return settings.public_url + "/connect/callback"


def configured(settings: Settings) -> str | None:
    """None when the flow can run; else what is missing."""
    if not (settings.aurinko_client_id and settings.aurinko_client_secret):
        return "connect links need AURINKO_CLIENT_ID and AURINKO_CLIENT_SECRET (the Aurinko app)"
    return None


def link_out(link: ConnectLink, settings: Settings) -> dict[str, Any]:
    return {
        "id": link.id,
        "orgId": link.org_id,
        "url": f"{settings.public_url}/connect/{link.key}",
        "email": link.email,
        "crmUserId": link.crm_user_id,
        "services": link.services,
        "serviceType": link.service_type,
        "returnUrl": link.return_url,
        "mode": link.mode,
        "expiresAt": iso(link.expires_at),
        "usedAt": iso(link.used_at),
        "userId": link.user_id,
    }


def create_link(org_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """A new link for `org_id`; LookupError when there is no such organisation."""
    settings = get_settings()
    with session_scope() as s:
        org = s.get(Organisation, org_id)
        if org is None:
            raise LookupError("organisation not found")
        link = ConnectLink(
            key=secrets.token_urlsafe(24),
            org_id=org_id,
            email=data["email"].strip().lower() if data.get("email") else None,
            crm_user_id=data.get("crmUserId"),
            services=list(dict.fromkeys(data["services"])),
            service_type=data.get("serviceType"),
            return_url=data.get("returnUrl"),
            mode="review" if org.mode == "review" else data.get("mode", "live"),
            expires_at=utcnow() + timedelta(hours=settings.connect_link_hours),
        )
        s.add(link)
        s.flush()
        return link_out(link, settings)


def _signature(user_id: int, account_id: str) -> str:
    key = derived_keys(PURPOSE)[0]
    message = f"reconnect:{user_id}:{account_id}".encode()
    return hmac.new(key.encode(), message, "sha256").hexdigest()[:32]


def reconnect_url(user: User, settings: Settings | None = None) -> str:
    """The user's reconnect link: a connect link for that user's own account, signed (it
    stays good as long as the user keeps that account)."""
    settings = settings or get_settings()
    signature = _signature(user.id, user.aurinko_account_id)
    return f"{settings.public_url}/connect/users/{user.id}/{signature}"


def _start(
    settings: Settings,
    *,
    org_id: int,
    services: list[str],
    service_type: str,
    link_id: int | None = None,
    user_id: int | None = None,
    email: str | None = None,
    account_id: str | None = None,
) -> str:
    """Record a fresh state and answer Aurinko's authorize URL."""
    missing = configured(settings)
    if missing:
        raise Refused(503, missing)
    nonce = S.new_nonce()
    with session_scope() as s:
        org = s.get(Organisation, org_id)
        scopes = S.scopes_for(services, (org.settings if org else None) or {})
        s.add(ConnectState(nonce=nonce, org_id=org_id, link_id=link_id, user_id=user_id))
    assert settings.aurinko_client_id is not None
    return S.authorize_url(
        settings.aurinko_api_url,
        client_id=settings.aurinko_client_id,
        service_type=service_type,
        scopes=scopes or ["Mail.Read"],
        return_url=callback_url(settings),
        state=S.make_state(derived_keys(PURPOSE)[0], nonce, time.time()),
        login_hint=email,
        account_id=account_id,
    )


def _service_type(asked: str | None, known: str | None) -> str | None:
    if known in S.MAILBOX_TYPES:
        return known
    if asked is None:
        return None
    if asked not in S.MAILBOX_TYPES:
        raise Refused(400, "unknown mailbox provider; pick one of " + ", ".join(S.MAILBOX_TYPES))
    return asked


def open_link(key: str, asked_type: str | None) -> str | Choice:
    """Opening `/connect/{key}`: Aurinko's authorize URL, or the provider choice."""
    settings = get_settings()
    with session_scope() as s:
        link = (
            s.scalar(select(ConnectLink).where(ConnectLink.key == key)) if len(key) < 65 else None
        )
        if link is None:
            raise Refused(404, "This connect link is not known. Ask for a new one.")
        if link.used_at is not None:
            raise Refused(
                410,
                "This connect link was already used: a mailbox is connected "
                "through it. Ask for a new one to connect another.",
                link.return_url,
            )
        if link.expires_at < utcnow():
            raise Refused(410, "This connect link has expired. Ask for a new one.", link.return_url)
        org_id, link_id, email, services = link.org_id, link.id, link.email, list(link.services)
        service_type = _service_type(asked_type, link.service_type)
    if service_type is None:
        return Choice(email)
    return _start(
        settings,
        org_id=org_id,
        services=services,
        service_type=service_type,
        link_id=link_id,
        email=email,
    )


def _known_type(encrypted_token: str, settings: Settings) -> str | None:
    """The mailbox provider of an account, asked with its stored token (Aurinko answers
    GET /v1/account even for a dead one); None when it cannot tell."""
    try:
        client = AurinkoClient.for_account(
            settings.aurinko_api_url,
            decrypt(encrypted_token),
            policy=RetryPolicy(attempts=1),
            timeout=(5.0, 10.0),
        )
        return client.get_account().get("serviceType")
    except Exception as exc:  # noqa: BLE001 - the user picks instead
        log.info("provider of an account not known (%s); asking the user", type(exc).__name__)
        return None


def open_reconnect(user_id: int, signature: str, asked_type: str | None) -> str | Choice:
    """Opening a user's reconnect link: Aurinko's authorize URL for that account."""
    settings = get_settings()
    with session_scope() as s:
        user = s.get(User, user_id)
        expected = _signature(user_id, user.aurinko_account_id) if user else ""
        if user is None or not hmac.compare_digest(expected, signature[:64]):
            raise Refused(404, "This reconnect link is not known. Ask for a new one.")
        org_id, services, email = user.org_id, list(user.services or []), user.email
        account_id, token = user.aurinko_account_id, user.access_token_enc
    service_type = _service_type(asked_type, None)
    if service_type is None:
        service_type = _service_type(None, _known_type(token, settings))
    if service_type is None:
        return Choice(email)
    return _start(
        settings,
        org_id=org_id,
        services=services,
        service_type=service_type,
        user_id=user_id,
        email=email,
        account_id=account_id,
    )


def spend(nonce: str) -> Spent:
    """Spend a state (once: a replay is refused) and claim its link; Refused otherwise."""
    now = utcnow()
    with session_scope() as s:
        spent = s.execute(
            update(ConnectState)
            .where(ConnectState.nonce == nonce, ConnectState.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        row = s.scalar(select(ConnectState).where(ConnectState.nonce == nonce))
        if row is None:
            raise Refused(400, "This authorisation was not started by BrightSync.")
        if not spent:
            raise Refused(
                409,
                "This authorisation was already completed (each is good once). "
                "Open the link again to start a new one.",
            )
        if row.link_id is not None:
            return _claim_link(s, row.link_id, now)
        user = s.get(User, row.user_id) if row.user_id is not None else None
        if user is None:
            raise Refused(410, "The mailbox this link reconnects was removed.")
        return Spent(
            org_id=user.org_id,
            link_id=None,
            user_id=user.id,
            email=user.email,
            crm_user_id=user.crm_user_id,
            services=list(user.services or []),
            mode=user.mode,
            return_url=None,
        )


def _claim_link(s: Any, link_id: int, now: Any) -> Spent:
    claimed = s.execute(
        update(ConnectLink)
        .where(ConnectLink.id == link_id, ConnectLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    link = s.get(ConnectLink, link_id)
    if not claimed:  # another authorisation of the same link connected a mailbox meanwhile
        raise Refused(410, "This connect link was already used.", link.return_url)
    return Spent(
        org_id=link.org_id,
        link_id=link.id,
        user_id=None,
        email=link.email,
        crm_user_id=link.crm_user_id,
        services=list(link.services),
        mode=link.mode,
        return_url=link.return_url,
    )


def release(spent: Spent) -> None:
    """The authorisation failed after its link was claimed: the link may be opened again."""
    if spent.link_id is None:
        return
    with session_scope() as s:
        s.execute(update(ConnectLink).where(ConnectLink.id == spent.link_id).values(used_at=None))


def connected(spent: Spent, user_id: int) -> None:
    """Record which user the link connected."""
    if spent.link_id is None:
        return
    with session_scope() as s:
        s.execute(
            update(ConnectLink).where(ConnectLink.id == spent.link_id).values(user_id=user_id)
        )


# Authorisation states kept past their expiry (a day: enough to answer "what happened to my
# sign-in?"); after that they are deleted, spent or abandoned.
STATES_KEPT = timedelta(days=1)


def prune_states(now: datetime | None = None) -> int:
    """Delete authorisation states that can no longer be used: each is good for
    `STATE_SECONDS` after it was made (its signed timestamp), spent or not."""
    cutoff = (now or utcnow()) - timedelta(seconds=S.STATE_SECONDS) - STATES_KEPT
    with session_scope() as s:
        return s.execute(delete(ConnectState).where(ConnectState.created_at < cutoff)).rowcount
