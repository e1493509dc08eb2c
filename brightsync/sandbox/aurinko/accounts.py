"""Accounts of the simulator and their credentials: creating and configuring accounts (the
/_control side), token states and expired sync tokens, and judging a /v1 request's
Authorization (bearer token, or app credentials plus X-Aurinko-Account-Id).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

from brightsync.sandbox.aurinko import records as R
from brightsync.sandbox.aurinko.model import SERVICES, Account
from brightsync.sandbox.aurinko.records import ApiFailure, bad_request
from brightsync.sandbox.aurinko.state import AurinkoSimulator


def create_account(
    sim: AurinkoSimulator,
    email: str,
    name: str | None = None,
    provider: str = "google",
    **options: Any,
) -> Account:
    if not email or "@" not in email:
        raise bad_request("email must be an address")
    if provider not in R.PROVIDERS:
        raise bad_request("provider must be one of " + ", ".join(R.PROVIDERS))
    with sim.lock:
        account_id = next(sim.account_ids)
        token = options.pop("accessToken", None) or secrets.token_urlsafe(32)
        if token in sim.by_token:
            raise bad_request("accessToken already in use")
        account = Account(
            id=account_id,
            email=email.strip(),
            name=name or email.split("@")[0],
            provider=provider,
            access_token=token,
            created=time.time(),
            # Google names a user's primary calendar after the address.
            primary_calendar=(
                email.strip() if provider == "google" else sim.new_id(provider, "calendar")
            ),
            default_task_list=sim.new_id(provider, "tasklist"),
        )
        sim.accounts[account_id] = account
        sim.by_token[token] = account_id
        sim.by_email.setdefault(account.email.lower(), []).append(account_id)
        configure_account(sim, account_id, options)
        return account


def configure_account(
    sim: AurinkoSimulator, account_id: int, options: Mapping[str, Any]
) -> dict[str, Any]:
    try:
        return _configure_account(sim, account_id, options)
    except (TypeError, ValueError):
        raise bad_request("account settings must be whole numbers") from None


def _configure_account(
    sim: AurinkoSimulator, account_id: int, options: Mapping[str, Any]
) -> dict[str, Any]:
    with sim.lock:
        account = sim.account(account_id)
        for key, value in options.items():
            if key == "notReadyStarts":
                if isinstance(value, dict):
                    for service, count in value.items():
                        if service not in SERVICES:
                            raise bad_request(f"unknown service {service!r}")
                        account.not_ready[service] = int(count)
                else:
                    account.not_ready = {s: int(value) for s in SERVICES}
            elif key == "threadIdDelay":
                account.thread_id_delay = int(value)
            elif key == "retryAfter":
                account.retry_after = int(value)
            elif key == "tokenStatus":
                set_token_status(sim, account_id, value)
            else:
                raise bad_request(f"unknown account setting {key!r}")
        return {
            "notReadyStarts": dict(account.not_ready),
            "threadIdDelay": account.thread_id_delay,
            "retryAfter": account.retry_after,
        }


def set_token_status(sim: AurinkoSimulator, account_id: int, status: str) -> None:
    if status not in ("active", "invalid", "dead"):
        raise bad_request("status must be active, invalid or dead")
    with sim.lock:
        sim.account(account_id).token_status = status


def reauthorize(sim: AurinkoSimulator, account_id: int) -> str:
    """The user authorised the app again: a new access token for the same account, active;
    the old one is revoked (it answers 401 from now on). Returns the new token."""
    with sim.lock:
        account = sim.account(account_id)
        sim.by_token.pop(account.access_token, None)
        account.access_token = secrets.token_urlsafe(32)
        account.token_status = "active"
        sim.by_token[account.access_token] = account.id
        return account.access_token


def expire_tokens(sim: AurinkoSimulator, account_id: int, mode: str = "410") -> None:
    if str(mode) not in ("410", "400"):
        raise bad_request('mode must be "410" or "400"')
    with sim.lock:
        account = sim.account(account_id)
        account.generation += 1
        account.expire_mode = str(mode)


def identify(sim: AurinkoSimulator, headers: Mapping[str, str]) -> int | None:
    """The account a request is about, without judging its credentials (for statistics)."""
    scheme, _, cred = (headers.get("Authorization") or "").partition(" ")
    with sim.lock:
        if scheme.lower() == "bearer":
            return sim.by_token.get(cred.strip())
    raw = headers.get("X-Aurinko-Account-Id")
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def authenticate_app(sim: AurinkoSimulator, headers: Mapping[str, str]) -> str:
    """App credentials alone (Basic clientId:secret), for app-level calls; the client id."""
    scheme, _, cred = (headers.get("Authorization") or "").partition(" ")
    try:
        user, _, password = base64.b64decode(cred.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user = password = ""
    ok_user = hmac.compare_digest(user.encode(), sim.client_id.encode())
    ok_pass = hmac.compare_digest(password.encode(), sim.client_secret.encode())
    if scheme.lower() != "basic" or not (ok_user and ok_pass):
        raise ApiFailure(401, "unauthorized", "unauthorized")
    return user


def authenticate(
    sim: AurinkoSimulator, headers: Mapping[str, str], *, allow_dead: bool = False
) -> Account:
    unauthorized = ApiFailure(401, "unauthorized", "unauthorized")
    scheme, _, cred = (headers.get("Authorization") or "").partition(" ")
    scheme, cred = scheme.lower(), cred.strip()
    with sim.lock:
        if scheme == "bearer" and cred:
            account_id = sim.by_token.get(cred)
            if account_id is None:
                raise unauthorized
            account = sim.accounts[account_id]
        elif scheme == "basic" and cred:
            try:
                user, _, password = base64.b64decode(cred).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise unauthorized from None
            ok_user = hmac.compare_digest(user.encode(), sim.client_id.encode())
            ok_pass = hmac.compare_digest(password.encode(), sim.client_secret.encode())
            if not (ok_user and ok_pass):
                raise unauthorized
            raw = headers.get("X-Aurinko-Account-Id")
            if not raw:
                raise bad_request("X-Aurinko-Account-Id is required with app credentials")
            try:
                account = sim.account(raw)
            except ApiFailure:
                raise ApiFailure(401, "unauthorized", f"unknown account {raw}") from None
        else:
            raise unauthorized
        if not allow_dead:
            if account.token_status == "dead":
                raise ApiFailure(401, "token.dead", "Not authorized")
            if account.token_status == "invalid":
                raise ApiFailure(401, "token.refresh.failed", "Invalid data: refreshToken missing")
        return account


def account_json(account: Account) -> dict[str, Any]:
    service_type, service_provider = R.PROVIDERS[account.provider]
    return {
        "id": account.id,
        "serviceType": service_type,
        "serviceProvider": service_provider,
        "active": True,
        "tokenStatus": account.token_status,
        "type": "personal",
        "daemon": False,
        "loginString": account.email,
        "email": account.email,
        "mailboxAddress": account.email,
        "name": account.name,
        "authScopes": [
            "Mail.Read",
            "Calendar.ReadWrite",
            "Contacts.ReadWrite",
            "Tasks.ReadWrite",
        ],
        "createdAt": R.iso(account.created),
        "updatedAt": R.iso(account.created),
    }
