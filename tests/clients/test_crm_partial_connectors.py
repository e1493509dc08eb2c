"""The client against connectors as providers build them (the reference CRM's variants): a
contacts lookup taking one address per call, budgeted; `showDeleted` on the `?since=` lists;
deleted entries never handed out as records."""

from __future__ import annotations

import pytest

from brightsync.clients.crm import LookupBudgetSpent
from brightsync.sandbox.crm.harness import CrmSandbox
from tests.clients.test_crm_client import make_client, redis_budget  # noqa: F401

PEOPLE = [f"p{n}@customer.example" for n in range(5)]


@pytest.fixture(scope="module")
def crm():
    with CrmSandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def single():
    with CrmSandbox(breakages=frozenset({"single_contact_lookup"})) as sandbox:
        yield sandbox


def seed_people(sandbox: CrmSandbox) -> None:
    sandbox.reset()
    sandbox.seed(
        contacts=[
            {"firstName": "P", "lastName": str(n), "emailAddresses": [a]}
            for n, a in enumerate(PEOPLE)
        ]
    )


def test_a_refused_list_is_learned_once_and_asked_one_by_one(single):
    seed_people(single)
    client, _ = make_client(single, single_lookups=10)
    found = client.contacts_by_email(PEOPLE[:3])
    assert all(len(found[a]) == 1 for a in PEOPLE[:3])
    assert client.probed()["contact_lookup_list"] is False  # remembered with the org
    single.reset_stats()
    client.contacts_by_email(PEOPLE)  # three known: two calls, one address each
    assert single.ops()["contacts.lookup"] == 2
    assert "400" not in single.stats()["byStatus"]


def test_past_the_budget_addresses_wait_and_are_never_reported_contact_less(single):
    seed_people(single)
    client, _ = make_client(single, single_lookups=2, capabilities={"contact_lookup_list": False})
    with pytest.raises(LookupBudgetSpent):
        client.lookup_contacts(PEOPLE)
    assert single.ops()["contacts.lookup"] == 2  # the budget, no more
    partial = client.contacts_by_email(PEOPLE, partial=True)
    assert sorted(partial) == PEOPLE[:2]  # the others are left out, not "no contact"


def test_a_full_connector_takes_lists(crm):
    crm.reset()
    client, _ = make_client(crm)
    client.contacts_by_email(PEOPLE)
    assert crm.ops()["contacts.lookup"] == 1
    assert client.discovery.known("contact_lookup_list") is None  # nothing had to be learned
    assert client.supports("contact_lookup_list") is True  # the probe: two made-up addresses


def test_show_deleted_lists_deleted_entries_and_plain_lists_never_do(crm):
    crm.reset()
    client, _ = make_client(crm)
    kept = client.create_task({"subject": "Keep"})
    gone = client.create_task({"subject": "Gone"})
    client.delete_task(gone["id"])
    since = kept["lastModifiedAt"]
    flagged = list(client.changed_since("tasks", since, show_deleted=True))
    entry = next(t for t in flagged if t["id"] == gone["id"])
    assert entry["deleted"] is True and entry["lastModifiedAt"]
    assert [t["id"] for t in client.tasks_since(since)] == [kept["id"]]


def test_a_connector_ignoring_show_deleted_lists_live_records_only():
    with CrmSandbox(breakages=frozenset({"no_show_deleted"})) as sandbox:
        client, _ = make_client(sandbox)
        kept = client.create_task({"subject": "Keep"})
        client.delete_task(client.create_task({"subject": "Gone"})["id"])
        listed = list(client.changed_since("tasks", kept["lastModifiedAt"], show_deleted=True))
        assert [t["id"] for t in listed] == [kept["id"]]
