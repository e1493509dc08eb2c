"""Contacts found are shared by an organisation's runs for its window, on real workers and
both backends (Redis, or the database's coordination cache): a customer's next email costs
one CRM call; a change the contact watch sees is matched by the next email; a contact
BrightSync creates is matched at once; one org's contacts never answer another's lookups."""

from __future__ import annotations

from tests.crm.test_opportunity_window import COMPANY, DAVE, DEALS, ERIN, _one_email
from tests.support.helpers import make_org, make_user, seed_contacts


def test_contacts_are_shared_across_runs_until_the_watch_sees_a_change(clean_stack):
    from brightsync.domains import CACHE_KINDS
    from brightsync.sync_cache.watch import watch_org

    st = clean_stack
    seed_contacts(st, DAVE, companies=[COMPANY], opportunities=DEALS)
    org_id = make_org(st, {"email": {"contactCacheSeconds": 300}})
    alice = make_user(st, org_id, "alice@acme.com")
    assert watch_org(org_id, CACHE_KINDS) == {"started": 1}  # the watermark starts now

    first, _ = _one_email(st, org_id, alice, "dave@customer.com", "One")  # probes too
    assert first["relatedTo"]["opportunities"] == ["op-dave"]

    # Another run: Dave and his deals are held; the create is the one CRM call left.
    second, calls = _one_email(st, org_id, alice, "dave@customer.com", "Two")
    assert second["relatedTo"] == first["relatedTo"]
    assert calls == {"total": 1, "emails.create": 1}

    # Dave moves to another company in the CRM; the contact watch sees it, and the next
    # email asks for him again and shows his new company.
    patched = st.crm("PATCH", "/api/v1/contacts/ct-dave", json={"companyId": "co-client"})
    assert patched.status_code == 200, patched.text
    assert watch_org(org_id, CACHE_KINDS)["contacts"] == 1
    third, calls = _one_email(st, org_id, alice, "dave@customer.com", "Three")
    assert third["relatedTo"]["companies"] == ["co-client"]
    assert calls == {  # his new company's deals were never asked for
        "total": 3,
        "contacts.lookup": 1,
        "opportunities.lookup": 1,
        "emails.create": 1,
    }

    # A contact new to the CRM is matched by the very next email (no miss is ever kept).
    made = st.crm("POST", "/api/v1/contacts", json={k: v for k, v in ERIN.items() if k != "id"})
    assert made.status_code == 201, made.text
    fourth, _ = _one_email(st, org_id, alice, "erin@client.com", "Four")
    assert fourth["relatedTo"]["contacts"] == [made.json()["id"]]

    # Window 0: today's behaviour, each run looks its people up.
    r = st.admin(
        "PATCH", f"/api/v1/orgs/{org_id}", json={"settings": {"email": {"contactCacheSeconds": 0}}}
    )
    assert r.status_code == 200, r.text
    _, calls = _one_email(st, org_id, alice, "dave@customer.com", "Five")
    assert calls == {"total": 2, "contacts.lookup": 1, "emails.create": 1}


def test_a_contact_brightsync_creates_is_matched_and_shared_and_orgs_never_share(clean_stack):
    st = clean_stack
    acme = make_org(st, {"email": {"contactCreation": "all", "contactCacheSeconds": 300}})
    alice = make_user(st, acme, "alice@acme.com")
    first, _ = _one_email(st, acme, alice, "frank@newco.io", "Hello")  # creates his contact
    (frank_id,) = first["relatedTo"]["contacts"]
    # The contact BrightSync made is what the next run finds, from the share.
    second, calls = _one_email(st, acme, alice, "frank@newco.io", "Again")
    assert second["relatedTo"]["contacts"] == [frank_id]
    assert calls == {"total": 1, "emails.create": 1}

    # Another organisation on the same CRM: Acme's share never answers its lookups.
    beta = make_org(st, {"email": {"contactCacheSeconds": 300}}, domains=["beta.com"])
    bob = make_user(st, beta, "bob@beta.com")
    _, calls = _one_email(st, beta, bob, "frank@newco.io", "Beta one", to="bob@beta.com")
    assert calls.get("contacts.lookup") == 1  # asked the CRM: nothing of Acme's was read
    _, calls = _one_email(st, beta, bob, "frank@newco.io", "Beta two", to="bob@beta.com")
    assert calls == {"total": 1, "emails.create": 1}  # its own share, from its own lookup
