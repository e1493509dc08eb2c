"""Change, leave, forget (issue 19), on real workers and both backends: services turned off
and on, per-user settings in a run, a user and an organisation removed (at Aurinko too), a
person forgotten."""

from __future__ import annotations

import time

from tests.conftest import wait_for
from tests.support.helpers import (
    aurinko_stats,
    crm_emails,
    decision,
    make_org,
    make_user,
    seed_contacts,
    send,
    sync_now,
    sync_round,
    wait_decided,
    wait_first_sync,
)

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}


def _subs_of(stack, account: int) -> list[dict]:
    subs = stack.aurinko("GET", "/_control/subscriptions").json()["subscriptions"]
    return [s for s in subs if s["accountId"] == account]


def _calls_of(stack, account: int) -> int:
    return sum(aurinko_stats(stack)["byAccount"].get(str(account), {}).values())


def _org_rows(org_id: int, user_ids: list[int]) -> dict[str, int]:
    from brightsync.db import session_scope
    from brightsync.lifecycle.removal import org_rows

    with session_scope() as s:
        return org_rows(s, org_id, user_ids)


def _user_rows(user_id: int) -> dict[str, int]:
    from sqlalchemy import func, select

    from brightsync.db import session_scope
    from brightsync.models import Base

    with session_scope() as s:
        counts = {
            t.name: s.scalar(select(func.count()).select_from(t).where(col == user_id))
            for t in Base.metadata.sorted_tables
            for col in [t.c.get("user_id"), t.c.get("owner_user_id")]
            if col is not None
        }
    return {name: n for name, n in counts.items() if n}


def test_a_removed_user_leaves_nothing_at_aurinko_and_its_mail_stays_logged_once(clean_stack):
    stack = clean_stack
    seed_contacts(stack, DAVE)
    org_id = make_org(stack)
    alice = make_user(stack, org_id, "alice@acme.com")
    bob = make_user(stack, org_id, "bob@acme.com")
    shared = send(stack, "dave@customer.com", ["alice@acme.com", "bob@acme.com"], "both")
    rfc822 = shared["internetMessageId"]
    wait_decided(stack, org_id, rfc822)
    sync_round(stack, alice["id"], "email")
    sync_round(stack, bob["id"], "email")  # both copies seen: the claim has an heir
    assert len(_subs_of(stack, alice["accountId"])) == 1

    # Aurinko refuses the first delete: the removal answers anyway, a task retries.
    fault = {"pathPrefix": "/v1/subscriptions/", "method": "DELETE", "status": 503}
    fault |= {"retryAfter": 120, "count": 1, "accountId": alice["accountId"]}
    stack.aurinko("POST", "/_control/faults", json=fault).raise_for_status()
    r = stack.admin("DELETE", f"/api/v1/users/{alice['id']}")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["removed"]["user_account"] == 1 and out["removed"]["sync_state"] == 1
    assert out["removed"]["subscription"] == 1 and out["aurinkoSubscriptionsDeleting"] == 1
    wait_for(lambda: not _subs_of(stack, alice["accountId"]), timeout=60, message="unsubscribed")
    assert _subs_of(stack, bob["accountId"]), "bob's subscription stays"
    log = stack.aurinko("GET", "/_control/requests").json()["requests"]
    deletes = [e["status"] for e in log if e["method"] == "DELETE"]
    assert deletes[0] == 503 and 200 <= deletes[-1] < 300, deletes  # refused, then retried

    # Idempotent: gone is gone; nothing else of hers answers.
    for method, path in [
        ("DELETE", f"/api/v1/users/{alice['id']}"),
        ("GET", f"/api/v1/users/{alice['id']}"),
    ]:
        again = stack.admin(method, path)
        assert again.status_code == 404 and again.json()["error"], again.text

    # What was logged stays logged once; new mail to both is logged through bob's mailbox,
    # and alice's account hears nothing more from BrightSync.
    time.sleep(1)
    calls = _calls_of(stack, alice["accountId"])
    after = send(stack, "dave@customer.com", ["alice@acme.com", "bob@acme.com"], "after")
    wait_decided(stack, org_id, after["internetMessageId"])
    assert decision(stack, org_id, rfc822)["loggedBy"] in (bob["id"], None)
    for message_id in (rfc822, after["internetMessageId"]):
        assert len(crm_emails(stack, message_id)) == 1
    time.sleep(2)
    assert _calls_of(stack, alice["accountId"]) == calls
    assert _user_rows(alice["id"]) == {}


def test_a_removed_organisation_leaves_no_row(clean_stack):
    stack = clean_stack
    seed_contacts(stack, DAVE)
    bystander = make_org(stack, domains=["other.com"])
    org_id = make_org(stack)
    alice = make_user(stack, org_id, "alice@acme.com", services=["email", "calendar"])
    logged = send(stack, "dave@customer.com", ["alice@acme.com"], "logged")["internetMessageId"]
    parked = send(stack, "erin@prospect.io", ["alice@acme.com"], "parked")["internetMessageId"]
    wait_decided(stack, org_id, logged)
    wait_decided(stack, org_id, parked, state="unmatched")
    assert _org_rows(org_id, [alice["id"]])  # the test would prove nothing otherwise

    r = stack.admin("DELETE", f"/api/v1/orgs/{org_id}")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["users"] == [alice["id"]] and out["removed"]["organisation"] == 1
    assert out["removed"]["email_claim"] >= 2 and out["removed"]["unmatched_item"] == 1
    assert _org_rows(org_id, [alice["id"]]) == {}
    wait_for(lambda: not _subs_of(stack, alice["accountId"]), timeout=60, message="unsubscribed")
    again = stack.admin("DELETE", f"/api/v1/orgs/{org_id}")
    assert again.status_code == 404 and again.json()["error"]
    assert stack.admin("GET", f"/api/v1/orgs/{bystander}").status_code == 200
    assert len(crm_emails(stack, logged)) == 1  # the CRM keeps what was logged


def test_a_service_turned_off_stops_and_resumes_from_its_cursor_when_on_again(clean_stack):
    stack = clean_stack
    seed_contacts(stack, DAVE)
    org_id = make_org(stack)
    alice = make_user(stack, org_id, "alice@acme.com")
    path = f"/api/v1/users/{alice['id']}"
    first = send(stack, "dave@customer.com", ["alice@acme.com"], "first")["internetMessageId"]
    wait_decided(stack, org_id, first)

    # Calendar on: subscribed and synced at once, no webhook needed.
    r = stack.admin("PATCH", path, json={"services": ["email", "calendar"]})
    assert r.status_code == 200, r.text
    wait_for(
        lambda: stack.admin("GET", path).json()["status"]["calendar"]["runs"] >= 1,
        timeout=60,
        message="calendar's first run",
    )
    wait_for(lambda: len(_subs_of(stack, alice["accountId"])) == 2, message="two subscriptions")

    # The CRM refuses email creates for now: a message waits to be retried.
    fault = {"path": "/api/v1/emails", "method": "POST", "status": 503, "count": 0}
    stack.crm("POST", "/_control/faults", json=fault).raise_for_status()
    pending = send(stack, "dave@customer.com", ["alice@acme.com"], "pending")["internetMessageId"]
    wait_for(
        lambda: (decision(stack, org_id, pending) or {}).get("failures", 0) >= 1,
        timeout=60,
        message="the email deferred",
    )

    # Email off: its subscription goes; mail that arrives is not read, and the deferred
    # message is not retried (no colleague holds a copy: it waits, orphaned).
    r = stack.admin("PATCH", path, json={"services": ["calendar"]})
    assert r.status_code == 200, r.text
    stack.crm("DELETE", "/_control/faults").raise_for_status()
    assert decision(stack, org_id, pending)["state"] == "orphaned"
    assert [s["service"] for s in r.json()["subscriptions"]] == ["calendar"]
    wait_for(
        lambda: (
            [s["resource"] for s in _subs_of(stack, alice["accountId"])]
            == ["/calendars/primary/events"]
        ),
        message="email unsubscribed",
    )
    while_off = send(stack, "dave@customer.com", ["alice@acme.com"], "off")["internetMessageId"]
    refused = stack.admin("POST", f"{path}/sync", json={"service": "email"})
    assert refused.status_code == 400, refused.text
    time.sleep(4)  # past the deferred retry's countdown
    assert decision(stack, org_id, while_off) is None
    assert decision(stack, org_id, pending)["state"] == "orphaned"
    assert crm_emails(stack, pending) == []

    # Email on again: from the kept cursor, so the mail of the gap is logged, once; the
    # message it left waiting is its own again.
    r = stack.admin("PATCH", path, json={"services": ["calendar", "email"]})
    assert r.status_code == 200, r.text
    wait_decided(stack, org_id, while_off)
    wait_decided(stack, org_id, pending)
    for message_id in (first, pending, while_off):
        assert len(crm_emails(stack, message_id)) == 1


def test_per_user_settings_rule_that_users_runs(clean_stack):
    stack = clean_stack
    seed_contacts(stack, DAVE)
    org_id = make_org(stack)
    alice = make_user(stack, org_id, "alice@acme.com")
    bob = make_user(stack, org_id, "bob@acme.com")
    for user in (alice, bob):  # settings apply from the next run: not to a first sync going on
        wait_first_sync(stack, user["id"])
    excluded = {"settings": {"email": {"excludeAddresses": ["dave@customer.com"]}}}
    r = stack.admin("PATCH", f"/api/v1/users/{alice['id']}", json=excluded)
    assert r.status_code == 200, r.text
    off = {"settings": {"email": {"enabled": False}}}
    assert stack.admin("PATCH", f"/api/v1/users/{bob['id']}", json=off).status_code == 200

    to_alice = send(stack, "dave@customer.com", ["alice@acme.com"], "a")["internetMessageId"]
    to_bob = send(stack, "dave@customer.com", ["bob@acme.com"], "b")["internetMessageId"]
    skipped = wait_decided(stack, org_id, to_alice, state="skipped")
    assert "exclu" in (skipped["reason"] or "")
    status = sync_round(stack, bob["id"], "email")
    assert status["counts"].get("disabled", 0) >= 1
    assert decision(stack, org_id, to_bob) is None  # bob's mailbox was not read

    # The org's rule is back for bob: his mail is logged from where his sync stood.
    back = {"settings": {"email": {"enabled": None}}}
    assert stack.admin("PATCH", f"/api/v1/users/{bob['id']}", json=back).status_code == 200
    sync_now(stack, bob["id"])
    wait_decided(stack, org_id, to_bob)


def test_forget_erases_a_persons_address(clean_stack):
    stack = clean_stack
    org_id = make_org(stack)
    alice = make_user(stack, org_id, "alice@acme.com")
    msg = send(stack, "erin@prospect.io", ["alice@acme.com"], "Erin's private matter")
    rfc822 = msg["internetMessageId"]
    wait_decided(stack, org_id, rfc822, state="unmatched")
    assert stack.admin("GET", f"/api/v1/orgs/{org_id}/unmatched").json()["items"]

    r = stack.admin(
        "POST", f"/api/v1/orgs/{org_id}/forget", json={"emailAddress": "Erin@Prospect.io"}
    )
    assert r.status_code == 200, r.text
    erased = r.json()["erased"]
    assert erased["syncCacheItems"] == 1 and erased["emailDecisions"] == 1
    assert stack.admin("GET", f"/api/v1/orgs/{org_id}/unmatched").json()["items"] == []
    after = decision(stack, org_id, rfc822)
    assert "erin@prospect.io" not in str(after).lower() and after["state"] == "skipped"
    again = stack.admin(
        "POST", f"/api/v1/orgs/{org_id}/forget", json={"emailAddress": "erin@prospect.io"}
    )
    assert again.status_code == 200 and not any(again.json()["erased"].values())
    assert (
        stack.admin(
            "POST", "/api/v1/orgs/999999/forget", json={"emailAddress": "a@b.co"}
        ).status_code
        == 404
    )
    assert alice["id"]
