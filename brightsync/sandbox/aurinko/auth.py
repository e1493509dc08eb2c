"""Aurinko's account OAuth flow, simulated: `GET /v1/auth/authorize` (the user's browser) and
`POST /v1/auth/token/{code}` (the app exchanges the code, Basic app credentials).

What the real flow does at Google or Microsoft is played by a setting (`POST /_control/auth`):
`decision` approve (redirect at once, the default), deny (redirect with an error) or page (a
small HTML page with Approve and Deny buttons, posted back to `/v1/auth/authorize`, a
simulator-only form target); `email` the mailbox the user signs in with (else `loginHint`,
else a made-up address); `provider`. The mailbox is an existing account with that address, or
a new one. Re-authorising an account whose token is dead or invalid issues a new token (the old
one revoked, as `/_control/accounts/{id}/reauthorize`); an active account keeps its token
(*inferred*: Aurinko's documentation does not say).

The redirect carries `code`, `state` and `status=success`, or `status=error`, `error` and
`message` (the query parameters docs.aurinko.io shows; *inferred* for the error case). A code
is good once, for five minutes, and only for the app it was issued to.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from markupsafe import escape

from brightsync.sandbox.aurinko import records as R
from brightsync.sandbox.aurinko.accounts import create_account, reauthorize
from brightsync.sandbox.aurinko.model import Account
from brightsync.sandbox.aurinko.records import ApiFailure, bad_request
from brightsync.sandbox.aurinko.state import AurinkoSimulator

CODE_SECONDS = 300
DECISIONS = ("approve", "deny", "page")
SERVICE_TYPES = {service_type: provider for provider, (service_type, _) in R.PROVIDERS.items()}
SCOPES = frozenset(
    "Calendar.Read Calendar.ReadWrite Mail.Read Mail.ReadWrite Mail.Send Mail.Drafts Mail.All "
    "Contacts.Read Contacts.ReadWrite Tasks.Read Tasks.ReadWrite".split()
)
FORWARDED = (
    "clientId",
    "serviceType",
    "scopes",
    "responseType",
    "returnUrl",
    "state",
    "loginHint",
    "accountId",
)


def configure(sim: AurinkoSimulator, body: Mapping[str, Any]) -> dict[str, Any]:
    """`POST /_control/auth`: how the next authorisations go."""
    unknown = set(body) - {"decision", "email", "provider"}
    if unknown:
        raise bad_request(f"unknown auth setting {sorted(unknown)[0]!r}")
    decision = body.get("decision", sim.auth["decision"])
    if decision not in DECISIONS:
        raise bad_request("decision must be one of " + ", ".join(DECISIONS))
    provider = body.get("provider", sim.auth["provider"])
    if provider is not None and provider not in R.PROVIDERS:
        raise bad_request("provider must be one of " + ", ".join(R.PROVIDERS))
    with sim.lock:
        sim.auth.update(decision=decision, provider=provider, email=body.get("email"))
        return dict(sim.auth)


def _checked(sim: AurinkoSimulator, params: Mapping[str, str]) -> dict[str, str]:
    """The authorize request's parameters, as Aurinko's OpenAPI requires them."""
    if params.get("clientId") != sim.client_id:
        raise bad_request("unknown clientId")
    if params.get("serviceType") not in SERVICE_TYPES:
        raise bad_request("serviceType must be one of " + ", ".join(SERVICE_TYPES))
    if (params.get("responseType") or "code") != "code":
        raise bad_request("the simulator plays responseType=code only")
    return_url = params.get("returnUrl") or ""
    if urlsplit(return_url).scheme not in ("http", "https") or not urlsplit(return_url).netloc:
        raise bad_request("returnUrl is required and must be an http(s) URL")
    scopes = (params.get("scopes") or "").split()
    if not scopes or not set(scopes) <= SCOPES:
        raise bad_request("scopes must be Aurinko scopes, space separated")
    return {key: params[key] for key in FORWARDED if params.get(key)}


def authorize(sim: AurinkoSimulator, params: Mapping[str, str]) -> tuple[str, str]:
    """`GET /v1/auth/authorize` -> ("redirect", url) or ("page", html)."""
    checked = _checked(sim, params)
    if sim.auth["decision"] == "page":
        return "page", _consent_page(sim, checked)
    return "redirect", decide(sim, checked, sim.auth["decision"])


def decide(sim: AurinkoSimulator, params: Mapping[str, str], decision: str) -> str:
    """The user approved or denied: the URL the browser goes back to."""
    checked = _checked(sim, params)
    out = {"state": checked["state"]} if "state" in checked else {}
    if decision != "approve":
        out |= {"status": "error", "error": "access_denied", "message": "the user denied access"}
    else:
        account = _sign_in(sim, checked)
        code = secrets.token_urlsafe(24)
        with sim.lock:
            sim.auth_codes[code] = (account.id, sim.client_id, time.time() + CODE_SECONDS)
        out |= {"code": code, "status": "success"}
    base = checked["returnUrl"]
    return base + ("&" if urlsplit(base).query else "?") + urlencode(out)


def _sign_in(sim: AurinkoSimulator, params: Mapping[str, str]) -> Account:
    """The mailbox the user signed in with: the account asked for, else by address."""
    provider = sim.auth["provider"] or SERVICE_TYPES[params["serviceType"]]
    if params.get("accountId"):
        with sim.lock:
            account = sim.account(params["accountId"])
        email = sim.auth["email"]
        if email and email.lower() != account.email.lower():
            raise bad_request("signed in with another mailbox than the account to re-authorise")
    else:
        email = sim.auth["email"] or params.get("loginHint") or ""
        if "@" not in email:
            with sim.lock:
                email = f"user{len(sim.accounts) + 1}@sandbox.test"
        with sim.lock:
            known = sim.by_email.get(email.lower()) or []
            account = sim.accounts[known[0]] if known else None
        if account is None:
            return create_account(sim, email, provider=provider)
    if account.token_status != "active":
        reauthorize(sim, account.id)
    return account


def exchange(sim: AurinkoSimulator, code: str, client_id: str) -> dict[str, Any]:
    """`POST /v1/auth/token/{code}`: the account and its token; a code is good once."""
    with sim.lock:
        entry = sim.auth_codes.pop(code, None)
        if entry is None or entry[2] < time.time() or entry[1] != client_id:
            raise ApiFailure(400, "invalidCode", "the code is unknown, used or expired")
        account = sim.account(entry[0])
        return {
            "accountId": account.id,
            "accessToken": account.access_token,
            "userId": f"user-{account.id}",
            "userSession": "",
        }


def _consent_page(sim: AurinkoSimulator, params: Mapping[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in params.items()
    )
    who = sim.auth["email"] or params.get("loginHint") or "a new mailbox"
    scopes = ", ".join(params.get("scopes", "").split())
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Aurinko sign-in</title>"
        "<style>body{font:16px system-ui;margin:4em auto;max-width:32em;color:#222}"
        "button{font:inherit;padding:.5em 1.5em;margin-right:1em}</style></head><body>"
        f"<h1>Sign in to {escape(params['serviceType'])}</h1>"
        f"<p>Signing in as <b>{escape(who)}</b>.</p>"
        f"<p>The application asks for: <b>{escape(scopes)}</b>.</p>"
        f'<form method="post" action="/v1/auth/authorize">{hidden}'
        '<button name="decision" value="approve" id="approve">Approve</button>'
        '<button name="decision" value="deny" id="deny">Deny</button></form>'
        "<p><small>Aurinko simulator</small></p></body></html>"
    )
