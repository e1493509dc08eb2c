"""The pure parts of the connect flow: the signed `state`, the scopes a user's services need,
Aurinko's authorize URL, and what a callback's account means for the link it came from."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from brightsync.signing import sign, verify

# An authorisation must come back within this long (a user signing in at Google or Microsoft
# takes a minute or two; a state older than this is refused as expired).
STATE_SECONDS = 900
# The mailbox providers a user may pick (Aurinko's ServiceTypeNonDaemon, mailboxes only).
MAILBOX_TYPES = {
    "Google": "Google (Gmail, Google Workspace)",
    "Office365": "Microsoft 365 / Outlook.com",
    "EWS": "Microsoft Exchange (on premises)",
    "IMAP": "Another mailbox (IMAP)",
}
# Aurinko scopes per service: read only where nothing flows to the mailbox.
_SCOPES = {
    "email": ("Mail.Read", "Mail.Read"),
    "calendar": ("Calendar.Read", "Calendar.ReadWrite"),
    "contacts": ("Contacts.Read", "Contacts.ReadWrite"),
    "tasks": ("Tasks.Read", "Tasks.ReadWrite"),
}


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def make_state(key: str, nonce: str, now: float) -> str:
    """`nonce.timestamp.signature`: the signature (signing.sign, as webhooks) binds both."""
    timestamp = str(int(now))
    return f"{nonce}.{timestamp}.{sign(key, timestamp, nonce.encode())}"


def read_state(keys: Sequence[str], state: str, now: float) -> tuple[str | None, str | None]:
    """(nonce, None) for a state one of `keys` signed within STATE_SECONDS, else (None,
    reason). Any text is judged without an exception."""
    parts = state.split(".") if len(state) <= 300 else []
    if len(parts) != 3 or not parts[0] or len(parts[0]) > 64:
        return None, "the state is not one BrightSync issued"
    nonce, timestamp, signature = parts
    reasons = [
        verify(key, timestamp, signature, nonce.encode(), tolerance=STATE_SECONDS, now=now)
        for key in keys
    ]
    if None in reasons:
        return nonce, None
    if "timestamp outside the allowed window" in reasons and _signed_by(keys, state):
        return None, "this authorisation took too long and expired; open the link again"
    return None, "the state is not one BrightSync issued (its signature does not match)"


def _signed_by(keys: Sequence[str], state: str) -> bool:
    nonce, timestamp, signature = state.split(".")
    return any(
        hmac.compare_digest(sign(key, timestamp, nonce.encode()), signature.lower()) for key in keys
    )


def scopes_for(services: Sequence[str], settings: Mapping[str, Any]) -> list[str]:
    """The Aurinko scopes `services` need under the org's settings (a domain that only flows
    to the CRM reads the mailbox; email is always read only)."""
    scopes = []
    for service in services:
        if service not in _SCOPES:
            continue
        read, write = _SCOPES[service]
        direction = (settings.get(service) or {}).get("direction", "two-way")
        scopes.append(read if direction == "to-crm" else write)
    return list(dict.fromkeys(scopes))


def authorize_url(
    aurinko_url: str,
    *,
    client_id: str,
    service_type: str,
    scopes: Sequence[str],
    return_url: str,
    state: str,
    login_hint: str | None = None,
    account_id: str | None = None,
) -> str:
    """Aurinko's `GET /v1/auth/authorize` with the parameters its OpenAPI lists."""
    params = {
        "clientId": client_id,
        "serviceType": service_type,
        "scopes": " ".join(scopes),
        "responseType": "code",
        "returnUrl": return_url,
        "state": state,
    }
    if login_hint:
        params["loginHint"] = login_hint
    if account_id and account_id.isdigit():  # re-authorising an existing account
        params["accountId"] = account_id
    return f"{aurinko_url}/v1/auth/authorize?{urlencode(params)}"


@dataclass(frozen=True)
class Expected:
    """What the link a callback came from asks for."""

    org_id: int
    email: str | None = None  # the mailbox the provider named
    user_id: int | None = None  # a reconnect link's user


@dataclass(frozen=True)
class Existing:
    """The user that already holds the account the callback brought, if any."""

    id: int
    org_id: int


def decide(expected: Expected, account_email: str, existing: Existing | None) -> tuple[str, str]:
    """("register" | "reconnect" | "refuse", why) for the account a callback brought."""
    if existing is not None and existing.org_id != expected.org_id:
        return "refuse", "this mailbox is already connected to another organisation"
    if expected.user_id is not None and (existing is None or existing.id != expected.user_id):
        return "refuse", (
            f"you signed in as {account_email or 'another mailbox'}, "
            "but this link reconnects another mailbox"
        )
    if existing is not None:
        return "reconnect", "the mailbox was already connected: its new token replaces the old"
    if expected.email and account_email.lower() != expected.email.lower():
        return "refuse", (
            f"you signed in as {account_email or 'an unknown mailbox'}, "
            f"but this link is for {expected.email}"
        )
    return "register", "a new mailbox"
