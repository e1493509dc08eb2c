"""The contact share: its pure parts, and a run's client over it against the reference CRM
on both coordinators (Redis, or the database's coordination cache)."""

from __future__ import annotations

import itertools

from brightsync.clients.crm import CrmClient
from brightsync.crm.contact_cache import (
    ContactCache,
    decode_entry,
    encode_entry,
    entry_key,
    epoch_key,
    invalidate_org,
    shareable,
)
from brightsync.sandbox.crm.harness import CrmSandbox

DAVE = {"id": "c1", "emailAddresses": ["dave@customer.com"]}
_orgs = itertools.count(9000)


def test_keys_keep_orgs_and_crms_apart():
    a = entry_key(1, "https://crm.example", "dave@customer.com")
    assert a.startswith("contacts:1:")
    assert a != entry_key(2, "https://crm.example", "dave@customer.com")
    assert a != entry_key(1, "https://other.example", "dave@customer.com")
    assert "dave" not in a and len(a) <= 200  # no address in the clear, within the bound
    assert epoch_key(1) != epoch_key(2)


def test_an_entry_is_read_only_under_its_own_epoch():
    raw = encode_entry("e1", [DAVE])
    assert decode_entry(raw, "e1") == [DAVE]
    assert decode_entry(raw, "e2") is None  # invalidated since
    assert decode_entry(raw, None) is None  # no epoch: nothing can be trusted
    assert decode_entry("", "e1") is None  # dropped
    assert decode_entry("not json", "e1") is None
    assert decode_entry(encode_entry("e1", []), "e1") is None  # "no contact" is never held
    assert decode_entry('{"e": "e1", "c": ["x", {"id": 1}]}', "e1") == [{"id": 1}]


def test_only_addresses_with_a_contact_are_shareable():
    assert shareable({"a@x.com": [DAVE], "b@x.com": [], "": [DAVE]}) == {"a@x.com": [DAVE]}


def _client(crm, org_id: int, seconds: float = 300) -> CrmClient:
    client = CrmClient(crm.url, "bearer", {"token": crm.token}, rate_key="t", rate_limit=1000)
    client.shared_contacts = ContactCache(org_id, crm.url, seconds)
    return client


def _lookups(crm) -> int:
    return crm.stats()["byOperation"].get("contacts.lookup", 0)


def test_runs_share_what_they_found_and_our_writes_keep_it_current(backend):
    with CrmSandbox() as crm:
        crm.seed(
            contacts=[{"id": "c1", "firstName": "Dave", "emailAddresses": ["dave@customer.com"]}]
        )
        org = next(_orgs)
        crm.reset_stats()
        assert [c["id"] for c in _client(crm, org).lookup_contacts(["dave@customer.com"])] == ["c1"]
        assert _client(crm, org).lookup_contacts(["Dave@Customer.com"])[0]["id"] == "c1"
        assert _lookups(crm) == 1  # the second run read the share
        # Another organisation on the same CRM asks the CRM itself.
        _client(crm, next(_orgs)).lookup_contacts(["dave@customer.com"])
        assert _lookups(crm) == 2
        # A window of 0 shares nothing.
        _client(crm, org, seconds=0).lookup_contacts(["dave@customer.com"])
        assert _lookups(crm) == 3

        # BrightSync creates a second contact with Dave's address: the share is dropped
        # for it, and the next run finds both.
        writer = _client(crm, org)
        writer.create_contact(
            {"firstName": "D", "lastName": "C", "emailAddresses": ["dave@customer.com"]}
        )
        found = _client(crm, org).lookup_contacts(["dave@customer.com"])
        assert len(found) == 2 and _lookups(crm) == 4

        # An update of ours drops everything the org holds (old addresses are unknown).
        writer.update_contact("c1", {"emailAddresses": ["david@customer.com"]})
        found = _client(crm, org).lookup_contacts(["dave@customer.com"])
        assert [c["id"] for c in found] != ["c1"] and "c1" not in [c["id"] for c in found]
        assert _lookups(crm) == 5


class _WatchLandsMeanwhile(ContactCache):
    """The contact watch invalidates between this run's read of the share and its store."""

    def read(self, addresses):
        held = super().read(addresses)
        invalidate_org(self.org_id)
        return held


def test_an_answer_from_before_an_invalidation_is_never_read(backend):
    with CrmSandbox() as crm:
        crm.seed(contacts=[DAVE])
        org = next(_orgs)
        late = _client(crm, org)
        late.shared_contacts = _WatchLandsMeanwhile(org, crm.url, 300)
        late.lookup_contacts(["dave@customer.com"])  # stored under the epoch it read
        crm.reset_stats()
        _client(crm, org).lookup_contacts(["dave@customer.com"])
        _client(crm, org).lookup_contacts(["dave@customer.com"])
        assert _lookups(crm) == 1  # the late answer was not read; the fresh one is shared
