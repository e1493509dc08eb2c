"""Mail from a CRM lead, on real workers and both backends: logged at once against the lead,
never parked and never made a contact; re-linked to the contact the lead becomes; and a
connector without leads works as it always did."""

from __future__ import annotations

from brightsync.sandbox.crm.harness import CrmSandbox
from tests.conftest import CRM_TOKEN, wait_for
from tests.support.helpers import (
    crm_emails,
    crm_stats,
    decision,
    make_user,
    person,
    send,
    wait_decided,
)

LENA = {
    "firstName": "Lena",
    "lastName": "Lead",
    "emailAddresses": ["lena@leadco.io"],
    "company": "Leadco",
}


def _org(stack, crm_url: str, creation: str = "all") -> int:
    """An organisation that (by default) would create a contact for anyone who writes
    (contactCreation all), so a lead not becoming one is the leads rule at work."""
    r = stack.admin(
        "POST",
        "/api/v1/orgs",
        json={
            "name": "Acme",
            "domains": ["acme.com"],
            "crm": {"baseUrl": crm_url, "authType": "bearer", "token": CRM_TOKEN},
            "settings": {"email": {"contactCreation": creation}},
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _contacts_of(crm_get, address: str) -> list[dict]:
    return crm_get("/api/v1/contacts/lookup", params={"emails": address})


def test_a_leads_enquiry_is_logged_against_the_lead_and_relinked_when_converted(clean_stack):
    from brightsync.celery import app
    from brightsync.domains import CACHE_KINDS
    from brightsync.sync_cache.watch import watch_org

    st = clean_stack
    [lead] = st.crm("POST", "/_control/seed", json={"leads": [LENA]}).json()["leads"]
    org_id = _org(st, st.crm_url)
    make_user(st, org_id, "alice@acme.com")
    sent = send(st, person("lena@leadco.io", "Lena Lead"), ["alice@acme.com"], "Enquiry")
    msg_id = sent["internetMessageId"]

    d = wait_decided(st, org_id, msg_id, "logged")
    assert d["relatedTo"] == {
        "contacts": [],
        "companies": [],
        "opportunities": [],
        "leads": [lead["id"]],
    }
    assert d["leads"] == [
        {"id": lead["id"], "name": "Lena Lead (Leadco)", "address": "lena@leadco.io"}
    ]
    assert "Lena Lead (Leadco)" in d["rule"] and "no contact was created" in d["rule"]
    assert "syncCache" not in d
    assert st.admin("GET", f"/api/v1/orgs/{org_id}/unmatched").json()["items"] == []
    crm_get = lambda path, **kw: st.crm("GET", path, **kw).json()  # noqa: E731
    assert _contacts_of(crm_get, "lena@leadco.io") == []  # contactCreation=all made none
    (logged,) = crm_emails(st, msg_id)
    assert logged["relatedTo"]["leads"] == [lead["id"]]

    # The provider converts the lead; the contact watch sees the new contact and re-links.
    assert watch_org(org_id, CACHE_KINDS) == {"started": 1}
    converted = st.crm("POST", f"/_control/leads/{lead['id']}/convert")
    assert converted.status_code == 201, converted.text
    contact_id = converted.json()["contact"]["id"]
    app.send_task("brightsync.unmatched.watch_crm_contacts")
    relinked = wait_for(
        lambda: (
            (now := decision(st, org_id, msg_id))["relatedTo"]["contacts"] == [contact_id] and now
        ),
        timeout=60,
        message="the email re-linked to the converted lead's contact",
    )
    assert "leads" not in relinked["relatedTo"] and "leads" not in relinked
    (logged,) = crm_emails(st, msg_id)
    assert logged["relatedTo"]["contacts"] == [contact_id]
    assert not logged["relatedTo"].get("leads")


def test_a_connector_without_leads_works_as_before(clean_stack):
    st = clean_stack
    with CrmSandbox(breakages=frozenset({"no_leads"})) as bare:
        bare.seed(leads=[LENA])  # the CRM knows her, but cannot be asked
        org_id = _org(st, bare.url)
        make_user(st, org_id, "alice@acme.com")
        sent = send(st, "lena@leadco.io", ["alice@acme.com"], "Enquiry")
        d = wait_decided(st, org_id, sent["internetMessageId"], "logged")
        # Without leads, contactCreation=all makes her a contact, as it always did.
        contacts = bare.records("contacts")
        assert [c["emailAddresses"] for c in contacts] == [["lena@leadco.io"]]
        assert d["relatedTo"]["contacts"] == [contacts[0]["id"]] and "leads" not in d["relatedTo"]
        assert "leads.lookup" not in bare.stats()["byOperation"]
    assert "leads.lookup" not in crm_stats(st)["byOperation"]


def test_cached_mail_whose_sender_becomes_a_lead_is_logged_by_the_retry(clean_stack):
    from brightsync.domains import CACHE_KINDS
    from brightsync.sync_cache.cache import retry_due

    st = clean_stack
    org_id = _org(st, st.crm_url, creation="none")
    make_user(st, org_id, "alice@acme.com")
    sent = send(st, "lena@leadco.io", ["alice@acme.com"], "Hello")
    msg_id = sent["internetMessageId"]
    wait_decided(st, org_id, msg_id, "unmatched")
    [lead] = st.crm("POST", "/_control/seed", json={"leads": [LENA]}).json()["leads"]
    assert retry_due(CACHE_KINDS, force=True)["matched"] == 1
    d = wait_decided(st, org_id, msg_id, "logged")
    assert d["relatedTo"]["leads"] == [lead["id"]]
    assert st.admin("GET", f"/api/v1/orgs/{org_id}/unmatched").json()["items"] == []
