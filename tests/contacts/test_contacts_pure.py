"""Contacts sync pieces with plain values: the mapping, the duplicate pairer, and what the
two-way core does with its pairs, doubts and held writes. No database, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

from brightsync.contacts import rules
from brightsync.contacts.pairing import find_pairs
from brightsync.sync.adapter import CRM, MAILBOX, ChangeSet, Record
from brightsync.sync.plan import Matches, plan
from brightsync.sync.status import Link, Settings, SideState, state_hash
from brightsync.sync.twoway import Failed, decide, settle

T1 = datetime(2026, 1, 1, 9, tzinfo=UTC)
T2 = datetime(2026, 1, 1, 10, tzinfo=UTC)


def fields(first: str, last: str, emails=(), phones=(), company="", title="", notes=""):
    return {
        "firstName": first,
        "lastName": last,
        "emails": list(emails),
        "phones": list(phones),
        "company": company,
        "jobTitle": title,
        "notes": notes,
    }


def test_mapping_reads_both_shapes_alike_and_writes_patches_only():
    box = {
        "id": "m1",
        "name": {"givenName": "Ann", "familyName": "Lee", "prefix": "Dr"},
        "emailAddresses": [{"address": "Ann@Acme.com"}, {"address": "ann@acme.com"}],
        "phoneNumbers": [{"number": "(415) 555-0100"}],
        "company": {"name": "Acme", "jobTitle": "CEO", "department": "Board"},
        "notes": "met at the fair",
    }
    crm = {
        "id": "c1",
        "firstName": "Ann",
        "lastName": "Lee",
        "emailAddresses": ["ann@acme.com"],
        "phoneNumbers": ["+1 415 555 0100"],
        "companyId": "co1",
        "title": "CEO",
        "notes": "met at the fair",
    }
    assert rules.from_mailbox(box) == rules.from_crm(crm, "Acme")
    # A name patch keeps the parts the mailbox holds that the CRM does not (prefix) ...
    body = rules.mailbox_patch({"lastName": "Park"}, box)
    assert body == {"name": {"givenName": "Ann", "familyName": "Park", "prefix": "Dr"}}
    # ... and a job title patch keeps the department.
    body = rules.mailbox_patch({"jobTitle": "CFO"}, box)
    assert body["company"] == {"name": "Acme", "jobTitle": "CFO", "department": "Board"}
    assert rules.to_crm({"jobTitle": "CFO"}) == {"title": "CFO"}
    assert rules.in_category({"keywords": ["Clients"]}, "clients")
    assert not rules.in_category({"keywords": []}, "clients")


def test_mailbox_bodies_leave_empty_fields_out_and_clear_with_empty_values():
    # Aurinko's document types notes, phoneNumbers, company as string, array, object: no null.
    created = rules.to_mailbox(fields("Sam", "", ["sam@x.test"]))
    assert created == {
        "name": {"givenName": "Sam"},
        "emailAddresses": [{"address": "sam@x.test"}],
    }
    box = {
        "name": {"givenName": "Sam", "familyName": "Black", "displayName": "Sam Black"},
        "company": {"name": "Acme", "jobTitle": "CFO", "department": "Board"},
        "phoneNumbers": [{"number": "+14155550100"}],
        "notes": "vip",
    }
    patch = {"notes": "", "phones": [], "company": "", "jobTitle": "", "lastName": ""}
    assert rules.mailbox_patch(patch, box) == {
        "name": {"givenName": "Sam", "familyName": ""},
        "company": {"name": "", "jobTitle": "", "department": "Board"},
        "phoneNumbers": [],
        "notes": "",
    }


def test_pairer_links_duplicates_and_doubts_the_grey_band():
    m = [
        Record("m1", fields("Bob", "Smith", ["bob@globex.com"], ["+14155550100"], "Globex")),
        Record("m2", fields("Daniel", "Brown", ["daniel.b@umbrella.com"])),
        Record("m3", fields("Zoe", "New", ["zoe@newco.io"])),
    ]
    c = [
        Record("c1", fields("Robert", "Smith", ["robert@globex.com"], ["+14155550100"], "Globex")),
        Record("c2", fields("Daniel", "Brown", ["dan.brown@umbrella.com"])),
    ]
    linked = Record("c9", fields("Zoe", "New", ["zoe@newco.io"]))
    found = find_pairs({MAILBOX: m, CRM: c}, {MAILBOX: [], CRM: []})
    assert [(a.id, b.id) for a, b in found.pairs] == [("m1", "c1")]
    assert sorted((d.side, d.record.id) for d in found.doubts) == [(CRM, "c2"), (MAILBOX, "m2")]
    # A duplicate of a record already linked to another one is a doubt, never a second link.
    found = find_pairs({MAILBOX: m[2:], CRM: []}, {MAILBOX: [], CRM: [linked]})
    assert found.pairs == [] and [(d.record.id, d.other.id) for d in found.doubts] == [("m3", "c9")]


def test_core_merges_a_pair_and_holds_doubts_until_their_content_changes():
    bob = Record("m1", fields("Bob", "Smith", ["bob@globex.com"], title="CFO"), "v1", T2)
    robert = Record("c1", fields("Robert", "Smith", ["robert@globex.com"], company="Globex"))
    dan = Record("m2", fields("Daniel", "Brown", ["daniel.b@umbrella.com"]), "v1", T1)

    def pairer(unlinked, known):
        return Matches(((bob, robert),), {(MAILBOX, "m2"): "possible duplicate of c2"})

    changes = {MAILBOX: ChangeSet((bob, dan), (), "m"), CRM: ChangeSet((robert,), (), "c")}
    p = plan([], changes, Settings(conflict="crm"), rules.IDENTITY, pairer)
    by_kind = {s.kind: s for s in p.steps}
    assert set(by_kind) == {"link", "review"}
    link = by_kind["link"]
    writes = {w.side: dict(w.fields) for w in link.writes}
    # Empty takes the other's value, lists unite, a real difference goes by the policy.
    assert writes[MAILBOX] == {
        "firstName": "Robert",
        "emails": ["robert@globex.com", "bob@globex.com"],
        "company": "Globex",
    }
    assert writes[CRM] == {"emails": ["robert@globex.com", "bob@globex.com"], "jobTitle": "CFO"}
    assert link.conflicts == ("firstName",) and link.lost[MAILBOX] == {"firstName": "Bob"}
    review = by_kind["review"]
    assert review.writes == ()
    stored = settle(review, {})
    assert stored.blocked == state_hash(review.current)
    assert decide(stored, review.current, Settings()) is None  # waits
    changed = {MAILBOX: Record("m2", {**dan.fields, "notes": "new"}, "v2", T2), CRM: None}
    assert decide(stored, changed, Settings()).kind == "create"


def test_a_held_write_holds_the_link_and_is_not_retried():
    f = fields("Anna", "K", ["anna@hooli.com"])
    link = Link(1, SideState("m1", "v", f, f, T1), SideState("c1", "v", f, f, T1))
    current = {MAILBOX: "gone", CRM: Record("c1", f, "v", T1)}
    step = decide(link, current, Settings())
    assert step is not None and step.kind == "delete"
    stored = settle(step, {0: Failed("held", "logged mail")})
    assert stored.held == CRM and stored.mailbox.gone and not stored.crm.gone
    assert decide(stored, current, Settings()) is None


def test_a_reviewed_pair_is_linked_when_approved_and_left_apart_when_rejected():
    m = [Record("m2", fields("Daniel", "Brown", ["daniel.b@umbrella.com"]))]
    c = [Record("c2", fields("Daniel", "Brown", ["dan.brown@umbrella.com"]))]
    pair = frozenset(("mailbox:m2", "crm:c2"))
    approved = find_pairs({MAILBOX: m, CRM: c}, {MAILBOX: [], CRM: []}, decided={pair: "approved"})
    assert [(a.id, b.id) for a, b in approved.pairs] == [("m2", "c2")] and not approved.doubts
    rejected = find_pairs({MAILBOX: m, CRM: c}, {MAILBOX: [], CRM: []}, decided={pair: "rejected"})
    assert rejected.pairs == [] and rejected.doubts == []


def test_exact_twins_on_first_sync_merge_and_an_empty_field_never_wipes_the_other():
    box = Record("m1", fields("Ann", "Lee", ["ann@acme.com"]), "v", T2)  # newer, no phone
    crm = Record("c1", fields("Ann", "Lee", ["ann@acme.com"], ["+14155550100"]), "v", T1)
    changes = {MAILBOX: ChangeSet((box,), (), "m"), CRM: ChangeSet((crm,), (), "c")}
    p = plan([], changes, Settings(conflict="mailbox"), rules.IDENTITY, lambda u, k: Matches())
    (step,) = p.steps
    assert step.kind == "link"
    assert [(w.side, dict(w.fields)) for w in step.writes] == [
        (MAILBOX, {"phones": ["+14155550100"]})
    ]
