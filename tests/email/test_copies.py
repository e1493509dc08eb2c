"""Decisions that see every copy, and no poison pills: real workers, both backends.

Each mailbox holds its own copy of a message and only the sender's copy shows Bcc. The order
in which mailboxes sync is set by switching a mailbox's webhook subscription off in the
Aurinko simulator (its mailbox then syncs only when asked to).
"""

from __future__ import annotations

from tests.conftest import wait_for
from tests.support.helpers import (
    crm_emails,
    crm_stats,
    decision,
    make_org,
    make_user,
    seed_contacts,
    send,
    sync_now,
    wait_decided,
    wait_first_sync,
)

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}
ERIN = {"firstName": "Erin", "lastName": "Client", "emailAddresses": ["erin@client.com"]}


def _pair(stack, email_settings: dict):
    org_id = make_org(stack, {"email": email_settings})
    alice = make_user(stack, org_id, "alice@acme.com")
    bob = make_user(stack, org_id, "bob@acme.com")
    for user in (alice, bob):  # which copy is seen first is up to each test
        wait_first_sync(stack, user["id"])
    return org_id, alice, bob


def _webhooks(stack, user: dict, on: bool) -> None:
    """Switch a mailbox's webhook subscriptions on or off in the simulator."""
    subs = stack.aurinko("GET", "/_control/subscriptions").json()["subscriptions"]
    for sub in subs:
        if str(sub["accountId"]) == str(user["accountId"]):
            r = stack.aurinko("POST", f"/_control/subscriptions/{sub['id']}", json={"active": on})
            r.raise_for_status()


def _trash(stack, user: dict, sent: dict) -> None:
    """The user moves their copy of a delivered message to the trash (through the API)."""
    r = stack.aurinko(
        "DELETE",
        f"/v1/email/messages/{sent['copies'][str(user['accountId'])]}",
        headers={"Authorization": f"Bearer {user['accessToken']}"},
    )
    assert r.status_code < 300, r.text


def _state(stack, org_id: int, msg_id: str) -> str | None:
    return (decision(stack, org_id, msg_id) or {}).get("state")


def test_bcc_seen_late_waits_for_the_sender_copy_or_reopens_a_partial_skip(clean_stack):
    """Alice -> Bob, Bcc a customer: Bob's copy (no Bcc) is synced first, in three ways."""
    st = clean_stack
    seeded = seed_contacts(st, DAVE, ERIN)
    dave_id, erin_id = (str(c["id"]) for c in seeded["contacts"])
    org_id, alice, bob = _pair(st, {"senderCopyWaitSeconds": 60})
    _webhooks(st, alice, False)

    # 1. Within the grace period: Bob's copy waits, Alice's copy decides (and logs).
    waited = send(st, "alice@acme.com", ["bob@acme.com"], "Offer", bcc=["dave@customer.com"])
    d = wait_decided(st, org_id, waited["internetMessageId"], "waiting")
    assert d["loggedBy"] == bob["id"] and d["waitingUntil"]
    assert "dave@customer.com" not in d["participants"]  # Bob's copy hides the Bcc
    assert crm_emails(st, waited["internetMessageId"]) == []

    # 2. The grace period runs out (durably: a deferred task decides, no worker sleeps).
    st.admin(
        "PATCH",
        f"/api/v1/orgs/{org_id}",
        json={"settings": {"email": {"senderCopyWaitSeconds": 2}}},
    ).raise_for_status()
    expired = send(st, "alice@acme.com", ["bob@acme.com"], "Lunch", bcc=["erin@client.com"])
    visible = send(
        st,
        "alice@acme.com",
        ["bob@acme.com", "dave@customer.com"],
        "Visible",
        bcc=["erin@client.com"],
    )
    binned = send(st, "alice@acme.com", ["bob@acme.com"], "Binned", bcc=["dave@customer.com"])
    # Decided from what is known: Bob's copy shows only colleagues, or Dave in To.
    for partial in (expired, binned):
        d = wait_decided(st, org_id, partial["internetMessageId"], "skipped", timeout=60)
        assert d["reason"] == "internal"
    _trash(st, alice, binned)  # Alice's copy of this one will be unusable, yet show her Bcc
    d = wait_decided(st, org_id, visible["internetMessageId"], "logged", timeout=60)
    assert d["loggedBy"] == bob["id"]
    assert d["relatedTo"]["contacts"] == [dave_id]

    # Alice's copies arrive: the wait ends (1), the partial "internal" skip reopens (2), and
    # the email logged from Bob's copy gains the contact only Alice's Bcc shows.
    sync_now(st, alice["id"])
    d = wait_decided(st, org_id, waited["internetMessageId"], "logged")
    assert d["loggedBy"] == alice["id"]
    [email] = crm_emails(st, waited["internetMessageId"])
    assert email["relatedTo"]["contacts"] == [dave_id]  # seen only in Alice's Bcc
    d = wait_decided(st, org_id, expired["internetMessageId"], "logged")
    assert d["loggedBy"] == alice["id"] and "erin@client.com" in d["participants"]
    assert len(crm_emails(st, expired["internetMessageId"])) == 1
    d = wait_decided(st, org_id, binned["internetMessageId"], "logged")
    assert d["loggedBy"] == bob["id"]  # reopened in place: Bob's copy, with Alice's Bcc
    assert crm_emails(st, binned["internetMessageId"])[0]["relatedTo"]["contacts"] == [dave_id]
    wait_for(
        lambda: erin_id in crm_emails(st, visible["internetMessageId"])[0]["relatedTo"]["contacts"],
        message="the email logged from Bob's copy to be linked to Erin as well",
    )
    assert len(crm_emails(st, visible["internetMessageId"])) == 1  # linked, not logged again


def test_an_excluded_address_in_bcc_is_never_logged_whichever_copy_syncs_first(clean_stack):
    st = clean_stack
    seed_contacts(st, DAVE)
    org_id, alice, bob = _pair(
        st, {"senderCopyWaitSeconds": 60, "excludeAddresses": ["lawyer@counsel.com"]}
    )
    # The recipient's copy first: it shows only Dave, so on its own it would be logged.
    _webhooks(st, alice, False)
    first = send(
        st,
        "alice@acme.com",
        ["bob@acme.com", "dave@customer.com"],
        "Deal",
        bcc=["lawyer@counsel.com"],
    )
    wait_decided(st, org_id, first["internetMessageId"], "waiting")
    sync_now(st, alice["id"])
    d = wait_decided(st, org_id, first["internetMessageId"], "skipped")
    assert d["reason"] == "excluded"

    # The sender's copy is already in her trash when her mailbox syncs: it cannot be used,
    # but it still shows the Bcc, and the wait for it ends there and then.
    trashed = send(
        st,
        "alice@acme.com",
        ["bob@acme.com", "dave@customer.com"],
        "Deal 3",
        bcc=["lawyer@counsel.com"],
    )
    wait_decided(st, org_id, trashed["internetMessageId"], "waiting")
    _trash(st, alice, trashed)
    sync_now(st, alice["id"])
    d = wait_decided(st, org_id, trashed["internetMessageId"], "skipped", timeout=30)
    assert d["reason"] == "excluded" and d["loggedBy"] == bob["id"]
    assert {"userId": alice["id"], "note": "trash"} in d["mailboxes"]

    # The sender's copy first: decided at once; Bob's copy later changes nothing.
    _webhooks(st, alice, True)
    _webhooks(st, bob, False)
    second = send(
        st,
        "alice@acme.com",
        ["bob@acme.com", "dave@customer.com"],
        "Deal 2",
        bcc=["lawyer@counsel.com"],
    )
    d = wait_decided(st, org_id, second["internetMessageId"], "skipped")
    assert d["reason"] == "excluded" and d["loggedBy"] == alice["id"]
    sync_now(st, bob["id"])
    wait_for(
        lambda: bob["id"] in decision(st, org_id, second["internetMessageId"])["seenBy"],
        message="Bob's copy to be seen",
    )
    for sent in (first, second, trashed):
        assert _state(st, org_id, sent["internetMessageId"]) == "skipped"
        assert crm_emails(st, sent["internetMessageId"]) == []


def test_a_trashed_owner_copy_while_the_crm_is_down_hands_over_to_a_colleague(clean_stack):
    st = clean_stack
    seed_contacts(st, DAVE)
    org_id, alice, bob = _pair(st, {})
    _webhooks(st, bob, False)  # Alice's mailbox syncs first and owns the message
    st.crm("POST", "/_control/faults", json={"path": "/api/", "status": 503, "count": 0})
    sent = send(st, "dave@customer.com", ["alice@acme.com"], "Order", cc=["bob@acme.com"])
    msg_id = sent["internetMessageId"]
    # Every retry fails at the contact lookup: the item's own failure count grows each time.
    d = wait_for(
        lambda: (
            (decision(st, org_id, msg_id) or {}).get("failures", 0) >= 2
            and decision(st, org_id, msg_id)
        ),
        timeout=90,
        message="two deferrals of the claim",
    )
    assert d["state"] in ("claimed", "logging") and d["loggedBy"] == alice["id"]
    assert "will retry" in d["reason"]

    # Alice trashes her copy; Bob's mailbox syncs his; then the CRM comes back.
    _trash(st, alice, sent)
    sync_now(st, bob["id"])
    wait_for(
        lambda: bob["id"] in decision(st, org_id, msg_id)["seenBy"],
        message="Bob's copy to be seen",
    )
    st.crm("DELETE", "/_control/faults")
    d = wait_decided(st, org_id, msg_id, "logged", timeout=120)
    assert d["loggedBy"] == bob["id"]
    assert {"userId": alice["id"], "note": "trash"} in d["mailboxes"]
    assert len(crm_emails(st, msg_id)) == 1


def test_a_poisoned_lookup_fails_only_its_message_and_the_mailbox_moves_on(clean_stack):
    st = clean_stack
    seed_contacts(st, DAVE, ERIN)
    org_id, alice, _ = _pair(st, {})
    st.crm(
        "POST",
        "/_control/faults",
        json={
            "path": "/api/v1/contacts/lookup",
            "status": 422,
            "count": 0,
            "match": "poison@bad.example",
            "message": "address rejected by CRM policy",
        },
    )
    # One page holding the poisoned message between two good ones.
    _webhooks(st, alice, False)
    good1 = send(st, "dave@customer.com", ["alice@acme.com"], "One")
    poisoned = send(st, "poison@bad.example", ["alice@acme.com"], "Two")
    good2 = send(st, "erin@client.com", ["alice@acme.com"], "Three")
    sync_now(st, alice["id"])
    d = wait_decided(st, org_id, poisoned["internetMessageId"], "failed")
    assert "address rejected by CRM policy" in d["reason"]
    for sent in (good1, good2):
        wait_decided(st, org_id, sent["internetMessageId"], "logged")
    refusals = crm_stats(st)["byStatus"].get("422", 0)
    assert refusals >= 1

    # The delta token moved past the page: later mail logs, the poisoned one is not retried.
    _webhooks(st, alice, True)
    later = send(st, "dave@customer.com", ["alice@acme.com"], "Four")
    wait_decided(st, org_id, later["internetMessageId"], "logged")
    assert crm_stats(st)["byStatus"].get("422", 0) == refusals
    assert _state(st, org_id, poisoned["internetMessageId"]) == "failed"
    status = st.admin("GET", f"/api/v1/users/{alice['id']}").json()["status"]["email"]
    assert status["state"] not in ("failed", "error"), status


def test_a_refused_opportunity_lookup_fails_only_its_message(clean_stack):
    st = clean_stack
    seed_contacts(
        st,
        {**DAVE, "id": "ct-dave"},
        {**ERIN, "id": "ct-erin"},
        opportunities=[{"id": "op-dave", "name": "Renewal", "contactIds": ["ct-dave"]}],
    )
    org_id, alice, _ = _pair(st, {})
    # The CRM refuses any opportunity lookup that names Erin: the batch's, then her own.
    st.crm(
        "POST",
        "/_control/faults",
        json={
            "path": "/api/v1/opportunities/lookup",
            "status": 422,
            "count": 0,
            "match": "ct-erin",
            "message": "contact id rejected by CRM policy",
        },
    ).raise_for_status()
    _webhooks(st, alice, False)  # one page, one batch
    dave = send(st, "dave@customer.com", ["alice@acme.com"], "Renewal terms")
    erin = send(st, "erin@client.com", ["alice@acme.com"], "Hello")
    sync_now(st, alice["id"])
    d = wait_decided(st, org_id, erin["internetMessageId"], "failed")
    assert "opportunity lookup" in d["reason"] and "rejected by CRM policy" in d["reason"]
    wait_decided(st, org_id, dave["internetMessageId"], "logged")
    (logged,) = crm_emails(st, dave["internetMessageId"])
    assert logged["relatedTo"]["opportunities"] == ["op-dave"]  # not dropped for the batch
    assert crm_emails(st, erin["internetMessageId"]) == []
