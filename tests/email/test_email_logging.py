"""Email logging end to end on real workers, both backends: once per org, matched, threaded."""

from __future__ import annotations

import threading

from sqlalchemy import select

from brightsync.db import session_scope
from brightsync.models import SyncState, UnmatchedItem, utcnow
from tests.conftest import wait_for
from tests.support.helpers import (
    activate,
    aurinko_stats,
    crm_emails,
    crm_stats,
    decision,
    make_org,
    make_user,
    person,
    seed_contacts,
    send,
    sync_now,
    sync_round,
    wait_decided,
    wait_idle,
)

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}


def _team(stack, settings=None, provider="imap"):
    org_id = make_org(stack, settings)
    users = [
        make_user(stack, org_id, f"{n}@acme.com", provider=provider)
        for n in ("alice", "bob", "carol")
    ]
    return org_id, users


def test_one_message_in_three_mailboxes_is_logged_once_with_one_body_load(clean_stack):
    seed_contacts(clean_stack, DAVE)
    org_id, users = _team(clean_stack)
    clean_stack.aurinko("POST", "/_control/stats/reset")
    sent = send(
        clean_stack,
        person("dave@customer.com", "Dave Customer"),
        ["alice@acme.com"],
        "Quote",
        cc=["bob@acme.com", "carol@acme.com"],
        body="<p>Please send the <b>quote</b></p>",
        body_type="html",
    )
    msg_id = sent["internetMessageId"]
    assert len(sent["copies"]) == 3
    d = wait_decided(clean_stack, org_id, msg_id)
    wait_idle(clean_stack, [u["id"] for u in users])
    wait_for(
        lambda: len(decision(clean_stack, org_id, msg_id)["seenBy"]) == 3,
        timeout=30,
        message="all three mailboxes to have seen the message",
    )
    d = decision(clean_stack, org_id, msg_id)
    assert sorted(d["seenBy"]) == sorted(u["id"] for u in users)
    logged = crm_emails(clean_stack, msg_id)
    assert len(logged) == 1
    email = logged[0]
    assert email["id"] == d["crmEmailId"]
    assert email["subject"] == "Quote"
    assert email["syncThreadId"] == d["syncThreadId"]
    assert "Please send the quote" in email["textBody"]
    assert email["relatedTo"]["contacts"] and email["fromAddress"] == "dave@customer.com"
    by_op = aurinko_stats(clean_stack)["byOperation"]
    assert by_op.get("message.get", 0) == 1  # one body load for the whole organisation


def test_reply_in_another_mailbox_joins_the_thread(clean_stack):
    seed_contacts(clean_stack, DAVE)
    org_id, users = _team(clean_stack)
    first = send(clean_stack, "dave@customer.com", ["alice@acme.com"], "Plan", body="first")
    d1 = wait_decided(clean_stack, org_id, first["internetMessageId"])
    reply = send(
        clean_stack,
        "bob@acme.com",
        ["dave@customer.com"],
        "Re: Plan",
        body="reply",
        inReplyTo=first["internetMessageId"],
        references=first["internetMessageId"],
    )
    d2 = wait_decided(clean_stack, org_id, reply["internetMessageId"])
    assert d2["syncThreadId"] == d1["syncThreadId"]
    assert d2["direction"] == "sent"
    assert d2["loggedBy"] == users[1]["id"]


def test_late_message_merges_two_threads_under_one_id(clean_stack):
    seed_contacts(clean_stack, DAVE)
    org_id, _ = _team(clean_stack)
    a = send(clean_stack, "dave@customer.com", ["alice@acme.com"], "A", body="a")
    b = send(clean_stack, "dave@customer.com", ["bob@acme.com"], "B", body="b")
    da = wait_decided(clean_stack, org_id, a["internetMessageId"])
    db_ = wait_decided(clean_stack, org_id, b["internetMessageId"])
    assert da["syncThreadId"] != db_["syncThreadId"]
    both = f"{a['internetMessageId']} {b['internetMessageId']}"
    c = send(
        clean_stack, "dave@customer.com", ["carol@acme.com"], "Re: both", body="c", references=both
    )
    dc = wait_decided(clean_stack, org_id, c["internetMessageId"])
    survivor = min(da["syncThreadId"], db_["syncThreadId"])
    assert dc["syncThreadId"] == survivor
    assert decision(clean_stack, org_id, a["internetMessageId"])["syncThreadId"] == survivor
    assert decision(clean_stack, org_id, b["internetMessageId"])["syncThreadId"] == survivor
    # The CRM copies moved to the surviving thread too (the connector can update); the move
    # follows the claim's decision, so it may land a moment later.
    for m in (a, b, c):
        wait_for(
            lambda m=m: (
                crm_emails(clean_stack, m["internetMessageId"])[0]["syncThreadId"] == survivor
            ),
            timeout=30,
            message="the CRM copy to move to the surviving thread",
        )


def test_two_workers_syncing_three_mailboxes_concurrently_still_log_once(clean_stack):
    seed_contacts(clean_stack, DAVE)
    clean_stack.start_worker("w2")
    org_id = make_org(clean_stack)
    # Users are registered before mail arrives, but webhooks are what we race here: deliver
    # everything first, then ask all three mailboxes to sync at the same moment.
    users = [make_user(clean_stack, org_id, f"{n}@acme.com") for n in ("alice", "bob", "carol")]
    ids = []
    for i in range(12):
        ids.append(
            send(
                clean_stack,
                "dave@customer.com",
                ["alice@acme.com"],
                f"Order {i}",
                cc=["bob@acme.com", "carol@acme.com"],
                body=f"order {i}",
            )["internetMessageId"]
        )
    threads = [threading.Thread(target=sync_now, args=(clean_stack, u["id"])) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for msg_id in ids:
        wait_decided(clean_stack, org_id, msg_id)
    wait_idle(clean_stack, [u["id"] for u in users])
    assert [len(crm_emails(clean_stack, m)) for m in ids] == [1] * len(ids)
    assert crm_stats(clean_stack)["byOperation"].get("emails.create", 0) == len(ids)
    assert aurinko_stats(clean_stack)["byOperation"].get("message.get", 0) == len(ids)


def test_a_run_owning_more_than_a_chunk_hands_the_rest_to_other_workers(clean_stack):
    """A mailbox's backlog is not one worker's alone: with more than BRIGHTSYNC_EMAIL_CHUNK (20)
    owned emails on a page a run publishes them as claim tasks, which the worker's processes
    share. Still once each, with one body load each."""
    seed_contacts(clean_stack, DAVE)
    org_id = make_org(clean_stack)
    account = clean_stack.aurinko(
        "POST",
        "/_control/accounts",
        json={"email": "alice@acme.com", "name": "Alice", "provider": "imap"},
    ).json()
    ids = [
        send(clean_stack, "dave@customer.com", ["alice@acme.com"], f"Order {i}")[
            "internetMessageId"
        ]
        for i in range(30)
    ]
    clean_stack.aurinko("POST", "/_control/stats/reset")
    user_id = activate(clean_stack, org_id, "alice@acme.com", account, ["email"])
    sync_round(clean_stack, user_id, "email")
    for msg_id in ids:
        wait_decided(clean_stack, org_id, msg_id)
    assert [len(crm_emails(clean_stack, m)) for m in ids] == [1] * len(ids)
    assert crm_stats(clean_stack)["byOperation"].get("emails.create", 0) == len(ids)
    assert aurinko_stats(clean_stack)["byOperation"].get("message.get", 0) == len(ids)
    with session_scope() as s:
        counters = s.scalars(select(SyncState.counters).where(SyncState.user_id == user_id)).one()
    # The run handed all thirty out (two tasks of fifteen) and wrote none itself.
    assert counters["handed_out"] == 30 and "logged" not in counters


def test_skip_rules_are_recorded_with_their_reason(clean_stack):
    org_id, _ = _team(clean_stack, settings={"email": {"excludeDomains": ["secret.com"]}})
    internal = send(clean_stack, "alice@acme.com", ["bob@acme.com"], "lunch?")
    bulk = send(
        clean_stack,
        "news@shop.com",
        ["alice@acme.com"],
        "Sale",
        headers=[{"name": "List-Unsubscribe", "value": "<mailto:u@shop.com>"}],
    )
    excluded = send(clean_stack, "x@mail.secret.com", ["alice@acme.com"], "s")
    assert (
        wait_decided(clean_stack, org_id, internal["internetMessageId"], "skipped")["reason"]
        == "internal"
    )
    assert (
        wait_decided(clean_stack, org_id, bulk["internetMessageId"], "skipped")["reason"] == "bulk"
    )
    assert (
        wait_decided(clean_stack, org_id, excluded["internetMessageId"], "skipped")["reason"]
        == "excluded"
    )
    assert crm_stats(clean_stack)["byOperation"].get("emails.create", 0) == 0


def _make_due() -> None:
    """Fast-forward the cache to its next daily retry."""
    with session_scope() as s:
        for item in s.query(UnmatchedItem):
            item.next_retry_at = utcnow()


def test_unmatched_mail_waits_in_the_cache_and_the_daily_retry_logs_it(clean_stack):
    org_id, users = _team(clean_stack)
    sent = send(
        clean_stack,
        person("erin@prospect.io", "Erin Prospect"),
        ["alice@acme.com"],
        "Intro",
        body="hello",
    )
    msg_id = sent["internetMessageId"]
    d = wait_decided(clean_stack, org_id, msg_id, "unmatched")
    assert d["syncCache"]["addresses"] == ["erin@prospect.io"]
    cache = clean_stack.admin("GET", f"/api/v1/orgs/{org_id}/unmatched").json()["items"]
    assert [(i["reason"], i["attempts"], i["addresses"]) for i in cache] == [
        ("no matching contact", 0, ["erin@prospect.io"])
    ]
    # A retry while nobody matches only counts an attempt.
    clean_stack.crm("POST", "/_control/stats/reset")
    from brightsync.celery import app

    _make_due()
    app.send_task("brightsync.unmatched.retry")
    wait_for(
        lambda: (
            clean_stack.admin("GET", f"/api/v1/orgs/{org_id}/unmatched").json()["items"][0][
                "attempts"
            ]
            == 1
        ),
        timeout=60,
        message="first retry attempt",
    )
    # The contact appears; the next daily run logs the mail.
    seed_contacts(
        clean_stack,
        {"firstName": "Erin", "lastName": "Prospect", "emailAddresses": ["erin@prospect.io"]},
    )
    _make_due()
    app.send_task("brightsync.unmatched.retry")
    wait_decided(clean_stack, org_id, msg_id, "logged")
    assert clean_stack.admin("GET", f"/api/v1/orgs/{org_id}/unmatched").json()["items"] == []
    assert len(crm_emails(clean_stack, msg_id)) == 1


def test_cache_lookups_are_one_batch_per_distinct_address(clean_stack):
    from brightsync.domains import CACHE_KINDS
    from brightsync.sync_cache.cache import retry_due

    org_id, _ = _team(clean_stack)
    ids = [
        send(clean_stack, f"p{i % 3}@prospect.io", ["alice@acme.com"], f"s{i}")["internetMessageId"]
        for i in range(9)
    ]
    for m in ids:
        wait_decided(clean_stack, org_id, m, "unmatched")
    clean_stack.crm("POST", "/_control/stats/reset")
    result = retry_due(CACHE_KINDS, force=True)
    assert result["checked"] == 9 and result["addresses"] == 3
    assert crm_stats(clean_stack)["byOperation"].get("contacts.lookup") == 1


def test_expiry_drops_items_after_the_retention(clean_stack):
    from brightsync.domains import CACHE_KINDS
    from brightsync.sync_cache.cache import expire

    org_id, _ = _team(clean_stack, settings={"unmatched": {"retentionDays": 1}})
    sent = send(clean_stack, "zed@nowhere.io", ["alice@acme.com"], "old")
    wait_decided(clean_stack, org_id, sent["internetMessageId"], "unmatched")
    assert expire(CACHE_KINDS) == 0
    from datetime import timedelta

    assert expire(CACHE_KINDS, now=utcnow() + timedelta(days=1, minutes=1)) == 1
    d = decision(clean_stack, org_id, sent["internetMessageId"])
    assert d["state"] == "expired" and "retention" in d["reason"]
    # What the cache kept to retry it goes with it: no address of zed's, no subject.
    assert "zed@nowhere.io" not in str(d) and d.get("subject") is None


def test_auto_created_contact_and_company_for_people_we_write_to(clean_stack):
    org_id, users = _team(clean_stack, settings={"email": {"contactCreation": "sent"}})
    sent = send(
        clean_stack,
        "alice@acme.com",
        [
            person("frank.new@mail.newco.co.uk", "Frank Newman"),
            "noreply@newco.co.uk",
            person("gina@gmail.com", "Gina Free"),
        ],
        "Welcome",
    )
    d = wait_decided(clean_stack, org_id, sent["internetMessageId"])
    lookup = clean_stack.crm(
        "GET",
        "/api/v1/contacts/lookup",
        params={"emails": "frank.new@mail.newco.co.uk,noreply@newco.co.uk,gina@gmail.com"},
    ).json()
    by_addr = {c["emailAddresses"][0]: c for c in lookup}
    assert set(by_addr) == {"frank.new@mail.newco.co.uk", "gina@gmail.com"}
    frank = by_addr["frank.new@mail.newco.co.uk"]
    assert (frank["firstName"], frank["lastName"]) == ("Frank", "Newman")
    company = clean_stack.crm(
        "GET", "/api/v1/companies/lookup", params={"domain": "newco.co.uk"}
    ).json()
    assert len(company) == 1 and frank["companyId"] == company[0]["id"]
    assert not by_addr["gina@gmail.com"].get("companyId")  # free mail: no company
    assert sorted(d["relatedTo"]["contacts"]) == sorted(
        [frank["id"], by_addr["gina@gmail.com"]["id"]]
    )


def test_received_mail_creates_no_contact_under_sent_mode(clean_stack):
    org_id, _ = _team(clean_stack, settings={"email": {"contactCreation": "sent"}})
    sent = send(clean_stack, "hal@vendor.com", ["alice@acme.com"], "Offer")
    wait_decided(clean_stack, org_id, sent["internetMessageId"], "unmatched")
    assert (
        clean_stack.crm(
            "GET", "/api/v1/contacts/lookup", params={"emails": "hal@vendor.com"}
        ).json()
        == []
    )


def test_similar_contact_is_linked_not_duplicated(clean_stack):
    seed_contacts(
        clean_stack,
        {"firstName": "Jonathan", "lastName": "Smith", "emailAddresses": ["jsmith@bigcorp.com"]},
    )
    org_id, _ = _team(clean_stack, settings={"email": {"contactCreation": "all"}})
    sent = send(
        clean_stack,
        person("jonathan.smith@bigcorp.com", "Jonathan Smith"),
        ["alice@acme.com"],
        "Hi",
    )
    d = wait_decided(clean_stack, org_id, sent["internetMessageId"])
    existing = clean_stack.crm(
        "GET", "/api/v1/contacts/lookup", params={"emails": "jsmith@bigcorp.com"}
    ).json()[0]
    assert d["relatedTo"]["contacts"] == [existing["id"]]
    assert (
        clean_stack.crm(
            "GET", "/api/v1/contacts/lookup", params={"emails": "jonathan.smith@bigcorp.com"}
        ).json()
        == []
    )


def test_crm_outage_leaves_mail_pending_then_logs_it_once(clean_stack):
    seed_contacts(clean_stack, DAVE)
    org_id, _ = _team(clean_stack)
    clean_stack.crm(
        "POST",
        "/_control/faults",
        json={"path": "/api/v1/emails", "method": "POST", "status": 503, "count": 12},
    )
    sent = send(clean_stack, "dave@customer.com", ["alice@acme.com"], "During outage")
    wait_for(
        lambda: (
            (decision(clean_stack, org_id, sent["internetMessageId"]) or {}).get("reason", "")
            and "will retry" in decision(clean_stack, org_id, sent["internetMessageId"])["reason"]
        ),
        timeout=90,
        message="the claim to be deferred",
    )
    wait_decided(clean_stack, org_id, sent["internetMessageId"], timeout=120)
    assert len(crm_emails(clean_stack, sent["internetMessageId"])) == 1


def test_owner_copy_gone_passes_the_claim_to_another_holder(clean_stack):
    seed_contacts(clean_stack, DAVE)
    org_id, users = _team(clean_stack)
    alice, bob = users[0], users[1]
    # Alice's mailbox syncs first but her copy is deleted before its body can be loaded.
    clean_stack.aurinko(
        "POST",
        "/_control/faults",
        json={"path": "/v1/email/messages/", "method": "GET", "status": 404, "count": 1},
    )
    sent = send(
        clean_stack, "dave@customer.com", ["alice@acme.com"], "handover", cc=["bob@acme.com"]
    )
    d = wait_decided(clean_stack, org_id, sent["internetMessageId"], timeout=90)
    assert len(crm_emails(clean_stack, sent["internetMessageId"])) == 1
    assert {alice["id"], bob["id"]} <= set(d["seenBy"])


def test_a_crm_refusal_is_final_and_recorded_with_its_message(clean_stack):
    seed_contacts(clean_stack, DAVE)
    org_id, _ = _team(clean_stack)
    clean_stack.crm(
        "POST",
        "/_control/faults",
        json={
            "path": "/api/v1/emails",
            "method": "POST",
            "status": 422,
            "count": 1,
            "message": "subject too long for this CRM",
        },
    )
    sent = send(clean_stack, "dave@customer.com", ["alice@acme.com"], "refused")
    d = wait_decided(clean_stack, org_id, sent["internetMessageId"], "failed")
    assert "subject too long for this CRM" in d["reason"]
    assert crm_stats(clean_stack)["byStatus"].get("422") == 1  # not retried


def test_malformed_messages_are_recorded_never_crash_the_sync(clean_stack):
    seed_contacts(clean_stack, DAVE)
    org_id = make_org(clean_stack)
    alice = make_user(clean_stack, org_id, "alice@acme.com")
    many = [{"address": f"r{i}@customer.com", "name": f"R {i}"} for i in range(3000)]
    raw = [
        {"subject": "no id at all", "from": {"address": "dave@customer.com"}},
        {
            "id": "bad-1",
            "subject": None,
            "from": {"address": "not an address"},
            "to": "garbage",
            "internetHeaders": [{"name": "X-Huge", "value": "x" * 200_000}] * 3,
        },
        {
            "id": "bad-2",
            "internetMessageId": "<odd-\u00e9\u4e2d@customer.com>",
            "subject": "=?utf-8?b?w6lsw6k=?=",
            "from": {"address": "dave@customer.com", "name": "=?utf-8?q?D=C3=A4ve?="},
            "to": [{"address": "alice@acme.com"}],
            "body": None,
            "sysLabels": ["inbox"],
        },
        {
            "id": "bad-3",
            "internetMessageId": "<many@customer.com>",
            "from": {"address": "dave@customer.com"},
            "to": many,
            "subject": "all hands",
            "sysLabels": ["inbox"],
            "body": "hello",
        },
    ]
    for msg in raw:
        r = clean_stack.aurinko(
            "POST", f"/_control/accounts/{alice['accountId']}/messages", json=msg
        )
        assert r.status_code in (200, 201), r.text
    sync_now(clean_stack, alice["id"])
    wait_idle(clean_stack, [alice["id"]])
    status = clean_stack.admin("GET", f"/api/v1/users/{alice['id']}").json()["status"]["email"]
    assert status["state"] == "idle" and status["lastError"] is None
    # The unusable one is counted with its reason; the sync carried on past it.
    assert status["counts"]["skipped_no_participants"] == 1
    odd = wait_decided(clean_stack, org_id, "<odd-\u00e9\u4e2d@customer.com>")
    assert odd["logged"]
    big = wait_decided(clean_stack, org_id, "<many@customer.com>")
    email = crm_emails(clean_stack, "<many@customer.com>")[0]
    assert big["logged"] and email["relatedTo"]["contacts"]


def test_dead_mailbox_token_marks_the_user_for_reauthorisation(clean_stack):
    org_id = make_org(clean_stack)
    alice = make_user(clean_stack, org_id, "alice@acme.com")
    clean_stack.aurinko(
        "POST", f"/_control/accounts/{alice['accountId']}/token", json={"status": "dead"}
    )
    sync_now(clean_stack, alice["id"])

    def flagged():
        user = clean_stack.admin("GET", f"/api/v1/users/{alice['id']}").json()
        return user if user["mailbox"]["state"] == "reauth_required" else None

    user = wait_for(flagged, timeout=60, message="the user to need re-authorisation")
    assert "re-authorisation" in user["status"]["email"]["lastError"]
    metrics = clean_stack.admin("GET", "/metrics").text
    assert "brightsync_mailboxes_needing_reauth 1.0" in metrics


def test_a_contact_created_in_the_crm_unblocks_and_relinks_at_once(clean_stack):
    from brightsync.celery import app
    from brightsync.domains import CACHE_KINDS
    from brightsync.sync_cache.watch import watch_org

    seed_contacts(clean_stack, DAVE)
    org_id, _ = _team(clean_stack)
    alone = send(clean_stack, "erin@prospect.io", ["alice@acme.com"], "just erin")
    both = send(
        clean_stack,
        "dave@customer.com",
        ["alice@acme.com"],
        "dave and erin",
        cc=["erin@prospect.io"],
    )
    wait_decided(clean_stack, org_id, alone["internetMessageId"], "unmatched")
    before = wait_decided(clean_stack, org_id, both["internetMessageId"])
    assert len(before["relatedTo"]["contacts"]) == 1
    assert watch_org(org_id, CACHE_KINDS) == {"started": 1}  # the watermark starts now
    erin = clean_stack.crm(
        "POST",
        "/api/v1/contacts",
        json={"firstName": "Erin", "lastName": "Prospect", "emailAddresses": ["erin@prospect.io"]},
    )
    assert erin.status_code == 201, erin.text
    app.send_task("brightsync.unmatched.watch_crm_contacts")
    wait_decided(clean_stack, org_id, alone["internetMessageId"], "logged")
    wait_for(
        lambda: (
            len(decision(clean_stack, org_id, both["internetMessageId"])["relatedTo"]["contacts"])
            == 2
        ),
        timeout=60,
        message="re-link",
    )
    logged = crm_emails(clean_stack, both["internetMessageId"])[0]
    assert erin.json()["id"] in logged["relatedTo"]["contacts"]


def test_organisations_never_share_claims_threads_or_decisions(clean_stack):
    seed_contacts(clean_stack, DAVE)
    acme = make_org(clean_stack)
    other = make_org(clean_stack, domains=["other.org"])
    alice = make_user(clean_stack, acme, "alice@acme.com")
    olga = make_user(clean_stack, other, "olga@other.org")
    sent = send(
        clean_stack, "dave@customer.com", ["alice@acme.com", "olga@other.org"], "to two companies"
    )
    a = wait_decided(clean_stack, acme, sent["internetMessageId"])
    o = wait_decided(clean_stack, other, sent["internetMessageId"])
    # Each organisation decides, logs and threads the message on its own.
    assert a["seenBy"] == [alice["id"]] and o["seenBy"] == [olga["id"]]
    assert a["crmEmailId"] != o["crmEmailId"]
    assert a["syncThreadId"] != o["syncThreadId"]


def test_a_reply_that_matches_nobody_inherits_its_threads_relations(clean_stack):
    seed_contacts(clean_stack, DAVE)
    org_id, users = _team(clean_stack)
    first = send(clean_stack, "dave@customer.com", ["alice@acme.com"], "Deal", body="first")
    d1 = wait_decided(clean_stack, org_id, first["internetMessageId"])
    # Alice forwards the thread to dave's assistant, who is no contact.
    reply = send(
        clean_stack,
        "alice@acme.com",
        ["assistant@customer.com"],
        "Re: Deal",
        body="fyi",
        inReplyTo=first["internetMessageId"],
        references=first["internetMessageId"],
    )
    d2 = wait_decided(clean_stack, org_id, reply["internetMessageId"])
    assert d2["syncThreadId"] == d1["syncThreadId"]
    assert d2["relatedTo"] == d1["relatedTo"]
