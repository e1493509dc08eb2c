"""Aurinko's callback: judge the state, exchange the code, and register the mailbox (or give
the user that already has the account its new token).

Order matters: the state is verified and spent before anything else, so a forged, expired
or replayed one stops at once; a denied authorisation, a refused code or a mailbox that
belongs elsewhere releases the link and stores nothing. The token is only ever written
encrypted (by the registration or the reconnect action) and never logged; the code travels in
a URL path, so no error text of the exchange is logged either.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from brightsync.clients.aurinko import AurinkoClient
from brightsync.clients.http import ApiError, RetryPolicy, TransientError
from brightsync.config import get_settings
from brightsync.connect import links
from brightsync.connect import state as S
from brightsync.connect.links import Refused, Spent
from brightsync.crypto import derived_keys
from brightsync.db import session_scope
from brightsync.models import User
from brightsync.ops import actions

log = logging.getLogger(__name__)
_CODE = re.compile(r"[A-Za-z0-9._~+/=-]{1,1000}")

# create_user of the admin API: (org_id, body) -> (user, error); QueueUnavailable raised.
Register = Callable[[int, dict[str, Any]], tuple[dict[str, Any] | None, str | None]]


@dataclass(frozen=True)
class Connected:
    user_id: int
    email: str
    outcome: str  # connected | reconnected
    return_url: str | None


def handle(params: Mapping[str, str], register: Register) -> Connected:
    """The whole callback; Refused (a page, nothing stored) for every way it can fail."""
    nonce, reason = S.read_state(
        derived_keys(links.PURPOSE), params.get("state") or "", time.time()
    )
    if nonce is None:
        raise Refused(400, f"This authorisation cannot be accepted: {reason}.")
    spent = links.spend(nonce)
    try:
        return _complete(spent, params, register)
    except Refused as refusal:
        links.release(spent)
        refusal.return_url = refusal.return_url or spent.return_url
        raise
    except Exception:
        links.release(spent)
        raise


def _complete(spent: Spent, params: Mapping[str, str], register: Register) -> Connected:
    code = params.get("code") or ""
    if (params.get("status") or "success") != "success" or params.get("error") or not code:
        said = (params.get("message") or params.get("error") or "no code was returned")[:200]
        raise Refused(
            400,
            f"The mailbox was not connected: the authorisation was denied or "
            f"failed ({said}). Open the link again to retry.",
        )
    if not _CODE.fullmatch(code):
        raise Refused(400, "The mailbox was not connected: Aurinko's answer is malformed.")
    account_id, token, email = _exchange(code)
    with session_scope() as s:
        holder = s.scalar(select(User).where(User.aurinko_account_id == account_id))
        existing = S.Existing(holder.id, holder.org_id) if holder else None
    action, why = S.decide(S.Expected(spent.org_id, spent.email, spent.user_id), email, existing)
    if action == "refuse":
        raise Refused(409, f"The mailbox was not connected: {why}.")
    if action == "reconnect":
        assert existing is not None
        try:
            actions.reconnect(existing.id, token)
        except actions.ActionError as exc:
            raise Refused(exc.status, exc.message) from None
        except Exception:  # the token is stored; the runs start with the safety sync
            log.warning("reconnect of user %s: runs not queued", existing.id)
        links.connected(spent, existing.id)
        return Connected(existing.id, email, "reconnected", spent.return_url)
    return _register(spent, register, account_id, token, email)


def _register(
    spent: Spent, register: Register, account_id: str, token: str, email: str
) -> Connected:
    body = {
        "email": email,
        "crmUserId": spent.crm_user_id,
        "aurinkoAccountId": account_id,
        "aurinkoAccessToken": token,
        "services": spent.services,
        "mode": spent.mode,
    }
    try:
        user, error = register(spent.org_id, body)
    except Exception as exc:  # the broker refused: the registration was undone
        log.warning("connect: registration undone (%s)", type(exc).__name__)
        raise Refused(
            503,
            "The mailbox could not be connected right now (the queue is "
            "unavailable); nothing was kept. Open the link again in a minute.",
        ) from None
    if user is None:
        raise Refused(409, f"The mailbox was not connected: {error}.")
    links.connected(spent, user["id"])
    return Connected(user["id"], email, "connected", spent.return_url)


def _exchange(code: str) -> tuple[str, str, str]:
    """The code for (account id, access token, mailbox address)."""
    settings = get_settings()
    assert settings.aurinko_client_id and settings.aurinko_client_secret
    app = AurinkoClient.for_app(
        settings.aurinko_api_url,
        settings.aurinko_client_id,
        settings.aurinko_client_secret,
        rate_limit=settings.aurinko_rate_per_second,
    )
    try:
        answer = app.request("POST", f"/v1/auth/token/{quote(code, safe='')}").json()
    except TransientError:
        raise Refused(
            502, "Aurinko did not answer; nothing was stored. Open the link again."
        ) from None
    except (ApiError, ValueError):
        raise Refused(
            400,
            "Aurinko refused the authorisation code (used or expired); nothing "
            "was stored. Open the link again.",
        ) from None
    account_id = (answer or {}).get("accountId") if isinstance(answer, dict) else None
    token = (answer or {}).get("accessToken") if isinstance(answer, dict) else None
    if account_id in (None, "") or not isinstance(token, str) or not token:
        raise Refused(502, "Aurinko's answer named no account; nothing was stored.")
    account = AurinkoClient.for_account(
        settings.aurinko_api_url,
        token,
        app_key=settings.aurinko_client_id,
        rate_limit=settings.aurinko_rate_per_second,
        policy=RetryPolicy(attempts=3),
    )
    try:
        info = account.get_account()
    except ApiError:
        raise Refused(
            502,
            "Aurinko did not tell which mailbox was connected; nothing was "
            "stored. Open the link again.",
        ) from None
    email = str(info.get("email") or info.get("mailboxAddress") or info.get("loginString") or "")
    return str(account_id), token, email.strip().lower()
