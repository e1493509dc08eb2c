"""Connecting a mailbox through Aurinko's OAuth flow (issue 19), against the simulator with a
real worker, on both backends: the link, the first sync that logs the mail already in the
mailbox without any webhook, a token that dies and the reconnect link that resumes it with
every message logged once; and every way the flow is refused storing nothing."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import func, select

from brightsync.connect.state import make_state
from brightsync.crypto import derived_keys
from brightsync.db import session_scope
from brightsync.models import ConnectState, Notification, User, utcnow
from tests.conftest import wait_for
from tests.support.helpers import crm_emails, make_org, seed_contacts, send, sync_now, wait_decided

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}


def _link(stack, org_id: int, **body) -> dict:
    r = stack.admin("POST", f"/api/v1/orgs/{org_id}/connect-links", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _users() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(User))


def _user(stack, user_id: int) -> dict:
    return stack.admin("GET", f"/api/v1/users/{user_id}").json()


def _logged_once(stack, org_id: int, rfc822: str) -> None:
    assert wait_decided(stack, org_id, rfc822)["logged"]
    assert len(crm_emails(stack, rfc822)) == 1, rfc822


def _callback_url(url: str) -> str:
    """Follow the link to Aurinko and take the redirect back, without opening it."""
    to_aurinko = requests.get(url, allow_redirects=False, timeout=30)
    assert to_aurinko.status_code == 303, to_aurinko.text
    back = requests.get(to_aurinko.headers["Location"], allow_redirects=False, timeout=30)
    assert back.status_code == 303, back.text
    return back.headers["Location"]


def test_a_mailbox_connects_its_old_mail_is_logged_and_a_reconnect_link_resumes_it(clean_stack):
    stack = clean_stack
    seed_contacts(stack, DAVE)
    org_id = make_org(stack)
    # The mailbox exists, with mail in it, before BrightSync knows it.
    r = stack.aurinko("POST", "/_control/accounts", json={"email": "alice@acme.com"})
    account = r.json()["id"]
    old = [
        send(stack, "dave@customer.com", ["alice@acme.com"], f"old {i}")["internetMessageId"]
        for i in range(3)
    ]

    link = _link(stack, org_id, email="alice@acme.com", services=["email"], crmUserId="u-1")
    assert link["url"].startswith(stack.web_url + "/connect/")
    choice = requests.get(link["url"], timeout=30)  # no provider named: the user picks one
    assert choice.status_code == 200 and 'href="?serviceType=Google"' in choice.text
    # The choice, Aurinko's sign-in, the callback.
    page = requests.get(link["url"], params={"serviceType": "Google"}, timeout=30)
    assert page.status_code == 200, page.text
    assert "alice@acme.com is connected" in page.text
    with session_scope() as s:
        user = s.scalar(select(User).where(User.aurinko_account_id == str(account)))
        assert user is not None and user.crm_user_id == "u-1"
        user_id, stored = user.id, user.access_token_enc
    live_token = stack.aurinko("GET", f"/_control/accounts/{account}").json()["accessToken"]
    assert live_token not in stored  # encrypted at rest

    for rfc822 in old:  # the first sync started by itself: no webhook, no "sync now"
        _logged_once(stack, org_id, rfc822)
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 0
    assert _user(stack, user_id)["status"]["email"]["firstSync"] == "done"

    # The token dies; mail keeps arriving; the run ends reauth_required.
    stack.aurinko("POST", f"/_control/accounts/{account}/token", json={"status": "dead"})
    during = send(stack, "dave@customer.com", ["alice@acme.com"], "while dead")
    sync_now(stack, user_id)
    dead = wait_for(
        lambda: (u := _user(stack, user_id))["mailbox"]["state"] == "reauth_required" and u,
        timeout=60,
        message="alice to need re-authorisation",
    )
    assert dead["status"]["email"]["health"] == "needs_reauth"
    assert dead["reconnectUrl"].startswith(stack.web_url + "/connect/users/")
    org = stack.admin("GET", f"/api/v1/orgs/{org_id}/status").json()
    assert org["users"][0]["reconnectUrl"] == dead["reconnectUrl"]

    page = requests.get(dead["reconnectUrl"], timeout=30)
    assert page.status_code == 200, page.text
    assert "reconnected" in page.text
    for rfc822 in [*old, during["internetMessageId"]]:
        _logged_once(stack, org_id, rfc822)
    after = send(stack, "dave@customer.com", ["alice@acme.com"], "after")["internetMessageId"]
    _logged_once(stack, org_id, after)
    back = wait_for(
        lambda: (u := _user(stack, user_id))["status"]["email"]["health"] == "active" and u,
        timeout=60,
        message="alice active again",
    )
    assert back["reconnectUrl"] is None
    assert _users() == 1
    assert stack.aurinko("GET", f"/_control/accounts/{account}").json()["accessToken"] not in (
        stack.worker.log()
    )


def test_forged_expired_replayed_denied_and_foreign_authorisations_store_nothing(clean_stack):
    stack = clean_stack
    org_id = make_org(stack)
    link = _link(stack, org_id, email="bob@acme.com", serviceType="Google")
    back = _callback_url(link["url"])
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    callback = stack.web_url + "/connect/callback"

    def call(**params) -> requests.Response:
        return requests.get(callback, params=params, allow_redirects=False, timeout=30)

    nonce, timestamp, signature = query["state"].split(".")
    forged = f"{nonce}.{timestamp}.{'0' * 64}"
    r = call(code=query["code"], state=forged, status="success")
    assert r.status_code == 400 and "signature" in r.text
    expired = make_state(derived_keys("connect-state")[0], nonce, time.time() - 3600)
    r = call(code=query["code"], state=expired, status="success")
    assert r.status_code == 400 and "expired" in r.text
    r = call(code=query["code"], status="success")
    assert r.status_code == 400
    assert _users() == 0

    r = requests.get(back, allow_redirects=False, timeout=30)  # the genuine callback
    assert r.status_code == 200 and "bob@acme.com is connected" in r.text, r.text
    r = requests.get(back, allow_redirects=False, timeout=30)  # replayed
    assert r.status_code == 409 and "already completed" in r.text
    assert _users() == 1
    r = requests.get(link["url"], allow_redirects=False, timeout=30)  # the link is spent
    assert r.status_code == 410

    # Denied at Aurinko: a page, nothing stored, the link still good afterwards.
    stack.aurinko("POST", "/_control/auth", json={"decision": "deny"})
    carol = _link(stack, org_id, email="carol@acme.com", serviceType="IMAP",
                  returnUrl="https://app.example/done?x=1")  # fmt: skip
    r = requests.get(carol["url"], timeout=30)
    assert r.status_code == 400 and "denied" in r.text
    assert "https://app.example/done?x=1&amp;status=error" in r.text
    assert _users() == 1
    stack.aurinko("POST", "/_control/auth", json={"decision": "approve"})
    r = requests.get(_callback_url(carol["url"]), allow_redirects=False, timeout=30)
    assert r.status_code == 303
    done = urlsplit(r.headers["Location"])
    assert done.netloc == "app.example"
    assert parse_qs(done.query)["status"] == ["success"]
    assert parse_qs(done.query)["email"] == ["carol@acme.com"]
    assert _users() == 2

    # Another mailbox than the link's, and a mailbox another organisation already has.
    stack.aurinko("POST", "/_control/auth", json={"email": "mallory@acme.com"})
    r = requests.get(_link(stack, org_id, email="dan@acme.com", serviceType="Google")["url"])
    assert r.status_code == 409 and "but this link is for dan@acme.com" in r.text
    other = make_org(stack, domains=["other.com"])
    stack.aurinko("POST", "/_control/auth", json={"email": "bob@acme.com"})
    r = requests.get(_link(stack, other, serviceType="Google")["url"], timeout=30)
    assert r.status_code == 409 and "another organisation" in r.text
    assert _users() == 2
    with session_scope() as s:  # every authorisation left its state spent
        assert s.scalar(select(func.count()).where(ConnectState.used_at.is_(None))) == 0


def test_connect_links_refuse_bad_input_with_a_reason(clean_stack):
    stack = clean_stack
    org_id = make_org(stack)
    path = f"/api/v1/orgs/{org_id}/connect-links"
    for body in (
        {"services": []},
        {"services": ["fax"]},
        {"email": "not an address"},
        {"returnUrl": "javascript:alert(1)"},
        {"serviceType": "Yahoo"},
        {"mode": "sometimes"},
        {"unknown": 1},
    ):
        r = stack.admin("POST", path, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"], body
    assert stack.admin("POST", "/api/v1/orgs/999999/connect-links", json={}).status_code == 404
    assert requests.get(stack.web_url + "/connect/nope", timeout=30).status_code == 404
    r = requests.get(stack.web_url + "/connect/users/1/forged", timeout=30)
    assert r.status_code == 404
    # Without a provider the user picks one; an unknown one is refused.
    url = _link(stack, org_id)["url"]
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and 'data-type="Office365"' in r.text
    assert requests.get(url, params={"serviceType": "Yahoo"}, timeout=30).status_code == 400


def test_authorisation_states_past_any_use_are_pruned_daily_spent_or_abandoned(clean_stack):
    import celeryconfig
    from brightsync.celery import app

    task = "brightsync.maintenance.prune_connect_states"
    assert task in {entry["task"] for entry in celeryconfig.beat_schedule.values()}
    org_id = make_org(clean_stack)
    now = utcnow()
    two_days_ago = now - timedelta(days=2)
    with session_scope() as s:
        s.add_all(
            [
                ConnectState(nonce="abandoned", org_id=org_id, created_at=two_days_ago),
                ConnectState(
                    nonce="spent",
                    org_id=org_id,
                    created_at=two_days_ago,
                    used_at=two_days_ago + timedelta(minutes=1),
                ),
                ConnectState(
                    nonce="expired-an-hour-ago", org_id=org_id, created_at=now - timedelta(hours=1)
                ),
                ConnectState(nonce="fresh", org_id=org_id, created_at=now),
            ]
        )

    def nonces() -> set[str]:
        with session_scope() as s:
            return set(s.scalars(select(ConnectState.nonce)))

    app.send_task(task)  # as beat sends it, to the worker
    wait_for(lambda: nonces() == {"expired-an-hour-ago", "fresh"}, timeout=60, message="the prune")
