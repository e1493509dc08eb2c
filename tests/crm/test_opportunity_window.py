"""CRM calls per logged email when each run carries one email, on real workers, both
backends: opportunity lookups are shared for the org's window; with contacts not shared
(`contactCacheSeconds: 0`) contacts are asked every run; a run of several pages looks each
address up once."""

from __future__ import annotations

from tests.conftest import wait_for
from tests.support.helpers import (
    crm_emails,
    crm_stats,
    make_org,
    make_user,
    seed_contacts,
    send,
    sync_round,
    wait_decided,
    wait_idle,
)

DAVE = {
    "id": "ct-dave",
    "firstName": "Dave",
    "lastName": "Customer",
    "emailAddresses": ["dave@customer.com"],
}
ERIN = {
    "id": "ct-erin",
    "firstName": "Erin",
    "lastName": "Client",
    "emailAddresses": ["erin@client.com"],
    "companyId": "co-client",
}
DEALS = [
    {"id": "op-dave", "name": "Renewal", "isClosed": False, "contactIds": ["ct-dave"]},
    {"id": "op-client", "name": "Pilot", "isClosed": False, "companyId": "co-client"},
]
COMPANY = {"id": "co-client", "name": "Client", "domains": ["client.com"]}


def _calls(stack) -> dict[str, int]:
    stats = crm_stats(stack)
    return {"total": stats["total"], **stats["byOperation"]}


def _one_email(
    stack, org_id: int, user: dict, sender: str, subject: str, to: str = "alice@acme.com"
):
    """Deliver one email (its webhook starts a run), wait until it is logged and the mailbox
    is idle again; the email as logged and the CRM calls its run made."""
    stack.crm("POST", "/_control/stats/reset").raise_for_status()
    sent = send(stack, sender, [to], subject)
    wait_decided(stack, org_id, sent["internetMessageId"], "logged")
    wait_idle(stack, [user["id"]])
    calls = _calls(stack)  # before this test's own look at the CRM
    (logged,) = crm_emails(stack, sent["internetMessageId"])
    return logged, calls


def test_a_customers_next_email_costs_two_calls_and_a_new_contact_is_matched_at_once(
    clean_stack,
):
    st = clean_stack
    seed_contacts(st, DAVE, companies=[COMPANY], opportunities=DEALS)
    # Contacts not shared (test_contact_window.py is about that): looked up every run.
    org_id = make_org(st, {"email": {"opportunityCacheSeconds": 300, "contactCacheSeconds": 0}})
    alice = make_user(st, org_id, "alice@acme.com")

    first, _ = _one_email(st, org_id, alice, "dave@customer.com", "One")  # probes too
    assert first["relatedTo"]["opportunities"] == ["op-dave"]

    # The same customer again, in a run of its own: contact lookup and create, nothing more.
    second, calls = _one_email(st, org_id, alice, "dave@customer.com", "Two")
    assert second["relatedTo"] == first["relatedTo"]
    assert calls == {"total": 2, "contacts.lookup": 1, "emails.create": 1}

    # Erin becomes a contact in the CRM between two runs: her mail is matched at once, and
    # her (never asked) deals are looked up.
    made = st.crm("POST", "/api/v1/contacts", json={k: v for k, v in ERIN.items() if k != "id"})
    assert made.status_code == 201, made.text
    erin_id = made.json()["id"]
    third, calls = _one_email(st, org_id, alice, "erin@client.com", "Three")
    assert third["relatedTo"]["contacts"] == [erin_id]
    assert third["relatedTo"]["opportunities"] == ["op-client"]
    assert calls.get("opportunities.lookup") == 1

    # Dave changes company in the CRM: the next email shows his new company at once (his
    # contact is asked every run), with his own deal still preferred.
    patched = st.crm("PATCH", "/api/v1/contacts/ct-dave", json={"companyId": "co-client"})
    assert patched.status_code == 200, patched.text
    fourth, calls = _one_email(st, org_id, alice, "dave@customer.com", "Four")
    assert fourth["relatedTo"]["companies"] == ["co-client"]
    assert fourth["relatedTo"]["opportunities"] == ["op-dave"]
    assert calls["total"] == 2  # both his id and his new company's deals were held

    # Window 0 turns sharing off: the baseline's third call comes back.
    r = st.admin(
        "PATCH",
        f"/api/v1/orgs/{org_id}",
        json={"settings": {"email": {"opportunityCacheSeconds": 0}}},
    )
    assert r.status_code == 200, r.text
    _, calls = _one_email(st, org_id, alice, "dave@customer.com", "Five")
    assert calls == {
        "total": 3,
        "contacts.lookup": 1,
        "opportunities.lookup": 1,
        "emails.create": 1,
    }


def test_a_run_of_several_pages_looks_each_address_and_deal_up_once(clean_stack):
    st = clean_stack
    seed_contacts(st, DAVE, {**ERIN}, companies=[COMPANY], opportunities=DEALS)
    org_id = make_org(st)  # the default window
    alice = make_user(st, org_id, "alice@acme.com")
    # A first run (mail from a stranger) learns what the connector offers: its probes are
    # not what this test counts.
    stranger = send(st, "someone@elsewhere.org", ["alice@acme.com"], "Hello")
    wait_decided(st, org_id, stranger["internetMessageId"], "unmatched")
    wait_idle(st, [alice["id"]])
    subs = st.aurinko("GET", "/_control/subscriptions").json()["subscriptions"]
    for sub in subs:  # alice's mailbox syncs only when asked: one run reads every page
        st.aurinko("POST", f"/_control/subscriptions/{sub['id']}", json={"active": False})
    st.aurinko("POST", "/_control/settings", json={"pageSize": 2}).raise_for_status()
    try:
        sent = [
            send(st, sender, ["alice@acme.com"], f"Mail {i}")
            for i, sender in enumerate(["dave@customer.com", "erin@client.com"] * 3)
        ]
        st.crm("POST", "/_control/stats/reset").raise_for_status()
        status = sync_round(st, alice["id"], "email")
        assert status["state"] not in ("failed", "error"), status
    finally:
        st.aurinko("POST", "/_control/settings", json={"pageSize": 50}).raise_for_status()
    for message in sent:
        wait_decided(st, org_id, message["internetMessageId"], "logged")
    calls = wait_for(lambda: (c := _calls(st)).get("emails.create") == 6 and c, timeout=30)
    # Three pages, one run: each address once, each deal once, then one create per email.
    assert calls == {
        "total": 8,
        "contacts.lookup": 1,
        "opportunities.lookup": 1,
        "emails.create": 6,
    }
