"""The contacts adapter against the simulators over real HTTP (no worker): the category filter
of the mailbox side and the owner scope of the CRM side."""

from __future__ import annotations

from brightsync.clients.aurinko import AurinkoClient
from brightsync.clients.crm import CrmClient
from brightsync.contacts.adapter import ContactsAdapter
from brightsync.crm.matching import Matcher
from brightsync.sync.adapter import CRM, MAILBOX
from tests.support.inprocess import in_process_world


def test_category_and_owner_scope(backend):
    with in_process_world(backend) as world:
        world.reset()
        org_id = world.org()
        account = world.aurinko.add_account("ann@acme.com", provider="office365")
        filed = world.aurinko.create(
            account["id"],
            "contacts",
            {
                "name": {"givenName": "Fay", "familyName": "Filed"},
                "emailAddresses": [{"address": "fay@clients.io"}],
                "keywords": ["Clients"],
            },
        )
        world.aurinko.create(
            account["id"],
            "contacts",
            {"name": {"givenName": "Pat", "familyName": "Private"}},
        )
        world.crm.seed(
            contacts=[
                {
                    "id": "c-mine",
                    "ownerId": "u-ann",
                    "firstName": "Mo",
                    "lastName": "Mine",
                    "emailAddresses": ["mo@x.io"],
                },
                {
                    "id": "c-theirs",
                    "ownerId": "u-bo",
                    "firstName": "Th",
                    "lastName": "Eirs",
                    "emailAddresses": ["th@x.io"],
                },
            ]
        )
        aurinko = AurinkoClient.for_account(world.aurinko_url, account["accessToken"])
        crm = CrmClient(world.crm.url, "bearer", {"token": "t"}, rate_key="crm:contacts-test")
        adapter = ContactsAdapter(
            aurinko, crm, Matcher(crm, org_id), owner_id="u-ann", category="clients"
        )

        first = adapter.changes(MAILBOX, None)
        assert [r.fields["lastName"] for r in first.records] == ["Filed"]
        # Taken out of the category: gone, as far as this sync is concerned.
        world.aurinko.update(account["id"], "contacts", filed["id"], {"keywords": []})
        later = adapter.changes(MAILBOX, first.cursor)
        assert later.deleted == (filed["id"],) and later.records == ()
        # Created by the sync: filed under the category, so it stays in scope.
        made = adapter.create(MAILBOX, {"firstName": "New", "lastName": "One"}, "k1")
        assert adapter.get(MAILBOX, made.id) is not None

        crm_side = adapter.changes(CRM, None)
        assert [r.id for r in crm_side.records] == ["c-mine"]
        assert adapter.get(CRM, "c-theirs") is None
