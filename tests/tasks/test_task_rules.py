"""Task field mapping: dates without day shifts, status maps, what never crosses sides."""

from __future__ import annotations

import pytest

from brightsync.tasks import rules

ZONES = ["Pacific/Auckland", "America/Los_Angeles", "UTC", "Asia/Kolkata", "Pacific/Kiritimati"]


@pytest.mark.parametrize("zone", ZONES)
def test_a_date_only_due_date_round_trips_in_every_zone(zone):
    tz = rules.zone(zone)
    crm_body = rules.to_crm({"title": "t", "due": "2026-03-29"}, rules.StatusMap(), tz)
    # Whatever the CRM stores (the same instant, in UTC), it reads back as the same date.
    instant = rules.parse_instant(crm_body["dueDate"])
    stored = {"subject": "t", "dueDate": rules.utc_text(crm_body["dueDate"])}
    assert instant is not None
    assert rules.from_crm(stored, rules.StatusMap(), tz)["due"] == "2026-03-29"
    mailbox_body = rules.to_mailbox({"due": "2026-03-29"})
    assert rules.from_mailbox({"title": "t", **mailbox_body})["due"] == "2026-03-29"


def test_a_crm_due_time_is_kept_when_the_mailbox_moves_the_date():
    tz = rules.zone("Pacific/Auckland")
    task = {"subject": "t", "dueDate": "2026-12-10T04:00:00Z"}  # 17:00 in Auckland
    fields = rules.from_crm(task, rules.StatusMap(), tz)
    assert (fields["due"], fields["dueTime"]) == ("2026-12-10", "17:00:00")
    body = rules.to_crm({"due": "2026-12-12"}, rules.StatusMap(), tz, fields["dueTime"])
    assert body["dueDate"] == "2026-12-12T17:00:00+13:00"


def test_mailbox_bodies_leave_empty_fields_out_and_clear_with_empty_strings():
    # Aurinko's document types notes and due as strings: null is never sent.
    fields = rules.from_crm(
        {"subject": "Call", "status": "notStarted"}, rules.StatusMap(), rules.zone("UTC")
    )
    assert rules.to_mailbox(fields) == {
        "title": "Call",
        "status": "notStarted",
        "importance": "normal",
    }
    assert rules.mailbox_patch({"notes": "", "status": "inProgress"}) == {
        "notes": "",
        "status": "inProgress",
    }
    # A cleared due date has no documented empty value: left out, the mailbox keeps its date.
    assert rules.mailbox_patch({"due": None}) == {}
    assert rules.mailbox_patch({"due": "2026-03-29"}) == {"due": "2026-03-29T00:00:00Z"}


def test_several_crm_statuses_onto_one_mailbox_status():
    statuses = rules.StatusMap({"open": "notStarted", "on hold": "notStarted", "done": "completed"})
    assert statuses.mailbox("on hold") == statuses.mailbox("open") == "notStarted"
    assert statuses.crm("completed") == "done"
    assert statuses.crm("notStarted") == "open"  # the first CRM value mapped onto it
    assert statuses.crm("deferred") == "deferred"  # unmapped, never seen: the contract's word
    assert statuses.mailbox("something new") == "notStarted"


def test_relations_are_no_common_field():
    crm = rules.from_crm(
        {"subject": "t", "relatedTo": {"contacts": ["c1"]}}, rules.StatusMap(), rules.zone("UTC")
    )
    assert "relatedTo" not in crm and "relatedTo" not in rules.to_crm(
        crm, rules.StatusMap(), rules.zone("UTC")
    )


def test_reopening_clears_the_completion_time():
    body = rules.to_crm({"status": "notStarted"}, rules.StatusMap(), rules.zone("UTC"))
    assert body == {"status": "notStarted", "completedAt": None}
