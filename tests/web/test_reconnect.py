"""Reconnect (issue 19): a user whose token died gets a new one by `PATCH /api/v1/users/{id}`
and resumes from its saved cursors, on real workers and both backends: mail from before,
during and after the dead spell is each logged exactly once, and the user is active again."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for
from tests.support.helpers import (
    crm_emails,
    make_org,
    make_user,
    seed_contacts,
    send,
    sync_now,
    wait_decided,
)

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}


def _user(stack, user_id: int) -> dict:
    return stack.admin("GET", f"/api/v1/users/{user_id}").json()


def _logged_once(stack, org_id: int, rfc822: str) -> None:
    assert wait_decided(stack, org_id, rfc822)["logged"]
    assert len(crm_emails(stack, rfc822)) == 1, rfc822


@pytest.mark.parametrize("cursor_expired", [False, True], ids=["cursor-kept", "cursor-expired"])
def test_a_new_token_resumes_the_user_with_every_message_logged_once(clean_stack, cursor_expired):
    stack = clean_stack
    seed_contacts(stack, DAVE)
    org_id = make_org(stack)
    alice = make_user(stack, org_id, "alice@acme.com")
    account = alice["accountId"]

    before = send(stack, "dave@customer.com", ["alice@acme.com"], "before")["internetMessageId"]
    _logged_once(stack, org_id, before)

    # The token dies; mail keeps arriving and the next run ends reauth_required.
    stack.aurinko("POST", f"/_control/accounts/{account}/token", json={"status": "dead"})
    during = [
        send(stack, "dave@customer.com", ["alice@acme.com"], f"during {i}")["internetMessageId"]
        for i in range(2)
    ]
    sync_now(stack, alice["id"])
    dead = wait_for(
        lambda: (u := _user(stack, alice["id"]))["mailbox"]["state"] == "reauth_required" and u,
        timeout=60,
        message="alice to need re-authorisation",
    )
    assert dead["status"]["email"]["health"] == "needs_reauth"
    late = send(stack, "dave@customer.com", ["alice@acme.com"], "late")["internetMessageId"]
    during.append(late)
    if cursor_expired:  # Aurinko expired the saved delta token meanwhile
        r = stack.aurinko("POST", f"/_control/accounts/{account}/expire-tokens", json={})
        assert r.status_code == 200, r.text

    # The user authorises again: a new token for the same account; the old one is revoked.
    r = stack.aurinko("POST", f"/_control/accounts/{account}/reauthorize", json={})
    assert r.status_code == 200, r.text
    token = r.json()["accessToken"]
    assert token != alice["accessToken"]
    r = stack.admin("PATCH", f"/api/v1/users/{alice['id']}", json={"aurinkoAccessToken": token})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["mailbox"] == {"state": "ok", "error": None}
    assert "accessToken" not in r.text and token not in r.text

    for rfc822 in during:
        _logged_once(stack, org_id, rfc822)
    after = send(stack, "dave@customer.com", ["alice@acme.com"], "after")["internetMessageId"]
    for rfc822 in [before, *during, after]:
        _logged_once(stack, org_id, rfc822)
    wait_for(
        lambda: _user(stack, alice["id"])["status"]["email"]["health"] == "active",
        timeout=60,
        message="alice to be active again",
    )
    assert token not in stack.worker.log()


def test_patch_user_refuses_what_it_cannot_do(clean_stack):
    stack = clean_stack
    org_id = make_org(stack)
    alice = make_user(stack, org_id, "alice@acme.com")
    path = f"/api/v1/users/{alice['id']}"
    for body in ({}, {"services": ["fax"]}, {"aurinkoAccessToken": ""}, {"colour": "red"}):
        r = stack.admin("PATCH", path, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"], body
    r = stack.admin("PATCH", "/api/v1/users/999999", json={"aurinkoAccessToken": "t"})
    assert r.status_code == 404, r.text


def test_a_run_that_fails_with_the_old_token_after_a_reconnect_leaves_the_user_active(
    clean_stack,
):
    """A run that began before the reconnect fails with the revoked token after it: its
    verdict is about that token, not the new one, so the user stays active and syncing."""
    from brightsync.sync.run import mark_reauth

    stack = clean_stack
    seed_contacts(stack, DAVE)
    org_id = make_org(stack)
    alice = make_user(stack, org_id, "alice@acme.com")
    account = alice["accountId"]
    token = stack.aurinko("POST", f"/_control/accounts/{account}/reauthorize", json={}).json()[
        "accessToken"
    ]
    r = stack.admin("PATCH", f"/api/v1/users/{alice['id']}", json={"aurinkoAccessToken": token})
    assert r.status_code == 200, r.text

    mark_reauth(alice["id"], "401 token.dead")  # what the late run does with the old token
    assert _user(stack, alice["id"])["mailbox"] == {"state": "ok", "error": None}
    mail = send(stack, "dave@customer.com", ["alice@acme.com"], "after")["internetMessageId"]
    _logged_once(stack, org_id, mail)

    # The stored token itself dead: the mark stands.
    stack.aurinko("POST", f"/_control/accounts/{account}/token", json={"status": "dead"})
    mark_reauth(alice["id"], "401 token.dead")
    assert _user(stack, alice["id"])["mailbox"]["state"] == "reauth_required"
