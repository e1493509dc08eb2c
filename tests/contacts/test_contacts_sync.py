"""Two-way contacts sync through the simulators with a real worker, on both backends.

One scenario: the first sync links two overlapping address books (a typo, swapped names, a
nickname with a differently formatted phone, a second email) without making a duplicate and
lists the grey case for review (approved, the next run links it); mail waiting for an unknown
sender is logged once the sync creates her contact; edits flow both ways, a conflicting edit
goes by the policy, and deletions flow, except the CRM contact with logged mail (logged by
the email sync), which is held and shown in the ops status.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack
from tests.support.helpers import (
    activate,
    make_org,
    person,
    send,
    sync_round,
    wait_decided,
)

OWNER = "u-ann"


def mailbox(stack: Stack, account_id: int) -> dict[str, dict[str, Any]]:
    records = stack.aurinko("GET", f"/_control/accounts/{account_id}/contacts").json()["records"]
    out = {f"{c['name'].get('givenName')} {c['name'].get('familyName')}": c for c in records}
    assert len(out) == len(records), "a person twice in the mailbox"
    return out


def crm(stack: Stack) -> dict[str, dict[str, Any]]:
    records = stack.crm("GET", "/_control/records/contacts").json()
    out = {f"{c['firstName']} {c['lastName']}": c for c in records}
    assert len(out) == len(records), "a person twice in the CRM"
    return out


def emails(contact: dict[str, Any]) -> list[str]:
    return [e["address"] if isinstance(e, dict) else e for e in contact["emailAddresses"]]


def mailbox_contact(first: str, last: str, *addresses: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": {"givenName": first, "familyName": last},
        "emailAddresses": [{"address": a} for a in addresses],
        **extra,
    }


def test_contacts_two_way(clean_stack: Stack) -> None:
    stack = clean_stack
    org_id = make_org(stack, settings={"contacts": {"conflict": "crm"}})
    stack.crm(
        "POST",
        "/_control/seed",
        json={
            "users": [{"id": OWNER, "name": "Ann", "email": "ann@acme.com"}],
            "companies": [
                {"id": "co-globex", "name": "Globex", "domains": ["globex.com"]},
                {"id": "co-initech", "name": "Initech", "domains": ["initech.com"]},
            ],
            "contacts": [
                {  # typo in the mailbox's copy, same address
                    "id": "c-jon",
                    "ownerId": OWNER,
                    "firstName": "Jonathan",
                    "lastName": "Miller",
                    "emailAddresses": ["jon.miller@initech.com"],
                    "companyId": "co-initech",
                },
                {  # swapped names in the mailbox, the phone formatted differently
                    "id": "c-chen",
                    "ownerId": OWNER,
                    "firstName": "Chen",
                    "lastName": "Wei",
                    "phoneNumbers": ["+1 415 555 0111"],
                    "companyId": "co-initech",
                },
                {  # "Bob" in the mailbox, another address, same phone and company
                    "id": "c-robert",
                    "ownerId": OWNER,
                    "firstName": "Robert",
                    "lastName": "Smith",
                    "emailAddresses": ["robert.smith@globex.com"],
                    "phoneNumbers": ["+1 415 555 0100"],
                    "companyId": "co-globex",
                    "title": "CFO",
                },
                {  # the mailbox knows a second address
                    "id": "c-anna",
                    "ownerId": OWNER,
                    "firstName": "Anna",
                    "lastName": "Kowalski",
                    "emailAddresses": ["anna@hooli.com"],
                },
                {  # grey: same name, another address at the same company
                    "id": "c-dan",
                    "ownerId": OWNER,
                    "firstName": "Daniel",
                    "lastName": "Brown",
                    "emailAddresses": ["dan.brown@umbrella.com"],
                },
                {
                    "id": "c-carl",
                    "ownerId": OWNER,
                    "firstName": "Carl",
                    "lastName": "Only",
                    "emailAddresses": ["carl@only.io"],
                },
                {
                    "id": "c-other",
                    "ownerId": "u-bo",
                    "firstName": "Not",
                    "lastName": "Anns",
                    "emailAddresses": ["not@anns.io"],
                },
            ],
        },
    ).raise_for_status()
    account = stack.aurinko(
        "POST", "/_control/accounts", json={"email": "ann@acme.com", "name": "Ann"}
    ).json()
    url = f"/_control/accounts/{account['id']}/contacts"
    for body in (
        mailbox_contact("Jonathon", "Miller", "jon.miller@initech.com"),
        mailbox_contact("Wei", "Chen", phoneNumbers=[{"number": "(415) 555-0111"}]),
        mailbox_contact(
            "Bob",
            "Smith",
            "bob.smith@globex.com",
            phoneNumbers=[{"number": "415.555.0100"}],
            company={"name": "Globex"},
        ),
        mailbox_contact("Anna", "Kowalski", "anna@hooli.com", "anna.k@gmail.com"),
        mailbox_contact("Daniel", "Brown", "daniel.b@umbrella.com"),
        mailbox_contact("Zoe", "New", "zoe@newco.io", company={"name": "Newco"}),
        # Already in the CRM, owned by another user: not created a second time.
        mailbox_contact("Not", "Anns", "not@anns.io"),
    ):
        stack.aurinko("POST", url, json=body).raise_for_status()

    user_id = activate(stack, org_id, "ann@acme.com", account, ["email", "contacts"], OWNER)
    first = sync_round(stack, user_id, "contacts")
    assert first["health"] != "failing", first

    # No duplicate on either side: 4 pairs linked, Zoe and Carl copied, Dan waits for review.
    people = crm(stack)
    assert sorted(people) == [
        "Anna Kowalski",
        "Carl Only",
        "Chen Wei",
        "Daniel Brown",
        "Jonathan Miller",
        "Not Anns",
        "Robert Smith",
        "Zoe New",
    ]
    book = mailbox(stack, account["id"])
    # Linked pairs agree now; where both had a different name the policy (crm) chose.
    assert sorted(book) == [
        "Anna Kowalski",
        "Carl Only",
        "Chen Wei",
        "Daniel Brown",
        "Jonathan Miller",
        "Not Anns",
        "Robert Smith",
        "Zoe New",
    ]
    assert emails(people["Anna Kowalski"]) == ["anna@hooli.com", "anna.k@gmail.com"]
    assert people["Zoe New"]["ownerId"] == OWNER and people["Zoe New"]["companyId"]
    assert book["Carl Only"]["emailAddresses"][0]["address"] == "carl@only.io"
    robert = people["Robert Smith"]
    assert sorted(emails(robert)) == ["bob.smith@globex.com", "robert.smith@globex.com"]
    assert len(robert["phoneNumbers"]) == 1  # one number, however each side wrote it
    dupes = stack.admin("GET", f"/api/v1/orgs/{org_id}/duplicates").json()
    assert dupes["total"] == 2, dupes
    by_name = {
        frozenset((p[k]["record"]["firstName"], p[k]["record"]["lastName"]) for k in "ab"): p
        for p in dupes["items"]
    }
    assert set(by_name) == {frozenset({("Daniel", "Brown")}), frozenset({("Not", "Anns")})}
    pair = by_name[frozenset({("Daniel", "Brown")})]
    assert pair["score"] < 0.9 and pair["reasons"]
    assert by_name[frozenset({("Not", "Anns")})]["reasons"][0] == "same email not@anns.io"

    # A person decides the grey pair is one person: the next run links and merges them.
    r = stack.admin(
        "PATCH", f"/api/v1/orgs/{org_id}/duplicates/{pair['id']}", json={"state": "approved"}
    )
    assert r.status_code == 200, r.text

    # Mail from someone who is no contact yet waits in the sync cache...
    sent = send(stack, person("eve@prospect.io", "Eve Prospect"), ["ann@acme.com"], "Intro")
    wait_decided(stack, org_id, sent["internetMessageId"], "unmatched")
    stack.aurinko(
        "POST", url, json=mailbox_contact("Eve", "Prospect", "eve@prospect.io")
    ).raise_for_status()

    # Edits flow both ways; a field edited on both sides goes by the policy (crm).
    def edit_mailbox(name: str, body: dict[str, Any]) -> None:
        cid = mailbox(stack, account["id"])[name]["id"]
        stack.aurinko("PATCH", f"{url}/{cid}", json=body).raise_for_status()

    def edit_crm(cid: str, body: dict[str, Any]) -> None:
        stack.crm("PATCH", f"/api/v1/contacts/{cid}", json=body).raise_for_status()

    edit_mailbox("Zoe New", {"company": {"name": "Newco", "jobTitle": "CTO"}})
    edit_crm("c-carl", {"phoneNumbers": ["+44 20 7946 0958"]})
    edit_mailbox("Robert Smith", {"company": {"name": "Globex", "jobTitle": "Finance Director"}})
    edit_crm("c-robert", {"title": "Chief Financial Officer"})
    sync_round(stack, user_id, "contacts")
    people, book = crm(stack), mailbox(stack, account["id"])
    assert people["Zoe New"]["title"] == "CTO"
    assert book["Carl Only"]["phoneNumbers"][0]["number"] in ("+44 20 7946 0958", "+442079460958")
    assert people["Robert Smith"]["title"] == "Chief Financial Officer"
    assert book["Robert Smith"]["company"]["jobTitle"] == "Chief Financial Officer"
    daniels = [people["Daniel Brown"]]
    assert sorted(emails(daniels[0])) == [
        "dan.brown@umbrella.com",
        "daniel.b@umbrella.com",
    ]
    assert sorted(emails(book["Daniel Brown"])) == sorted(emails(daniels[0]))
    # ...and is logged as soon as the sync has created her contact, without the daily retry.
    assert emails(people["Eve Prospect"]) == ["eve@prospect.io"]
    wait_decided(stack, org_id, sent["internetMessageId"], "logged", timeout=20)

    # Deletions: Zoe (mailbox) and Carl (CRM) go on the other side too; Anna has logged mail,
    # so deleting her in the mailbox keeps the CRM contact and shows why.
    mail = send(stack, person("anna@hooli.com", "Anna Kowalski"), ["ann@acme.com"], "Order")
    wait_decided(stack, org_id, mail["internetMessageId"], "logged")
    for name in ("Zoe New", "Anna Kowalski"):
        cid = mailbox(stack, account["id"])[name]["id"]
        stack.aurinko("DELETE", f"{url}/{cid}").raise_for_status()
    stack.crm("DELETE", "/api/v1/contacts/c-carl").raise_for_status()
    sync_round(stack, user_id, "contacts")
    people, book = crm(stack), mailbox(stack, account["id"])
    assert "Zoe New" not in people and "Carl Only" not in book
    assert "Anna Kowalski" in people and "Anna Kowalski" not in book
    held = stack.admin("GET", f"/api/v1/orgs/{org_id}/status").json()["heldDeletions"]
    assert held["count"] == 1, held
    assert held["items"][0]["crmId"] == "c-anna" and "logged email" in held["items"][0]["reason"]
    # The hold lasts: the next run neither deletes her nor asks again.
    sync_round(stack, user_id, "contacts")
    assert "Anna Kowalski" in crm(stack)
