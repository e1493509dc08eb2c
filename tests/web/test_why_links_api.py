"""`why` for contacts and tasks through the admin API on a real database: found by either side's
id, one organisation's links never answer for another, the duplicate pair a record waits on."""

from __future__ import annotations

import json
from typing import Any

from brightsync.db import session_scope
from brightsync.models import MeetingClaim, ObjectLink, Organisation
from brightsync.review.duplicates import record_key, record_possible_duplicate
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_org, make_user

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def link(org_id: int, user_id: int, domain: str, **values: Any) -> int:
    with session_scope() as s:
        row = ObjectLink(org_id=org_id, user_id=user_id, domain=domain, **values)
        s.add(row)
        s.flush()
        return row.id


def test_why_for_contact_and_task_links(app, client) -> None:
    org_id = make_org()
    other_org = make_org("Other")
    uid = make_user(org_id, "ann")
    with session_scope() as s:
        s.get(Organisation, org_id).settings = {"tasks": {"direction": "to-crm"}}
    task = link(
        org_id,
        uid,
        "tasks",
        mailbox_id="t-mb",
        crm_id="t-crm",
        conflict={"fields": ["title"], "lost": {"crm": {"title": "x"}}, "policy": "mailbox"},
    )
    link(
        org_id,
        uid,
        "contacts",
        mailbox_id="c-mb",
        crm_id=None,
        blocked="h",
        state="failed",
        error="possible duplicate of crm contact c-9 (score 0.70: same name): waiting for review",
    )
    with session_scope() as s:
        record_possible_duplicate(
            s,
            org_id,
            record_key("mailbox", "c-mb", uid),
            {"firstName": "Dan"},
            record_key("crm", "c-9"),
            {"firstName": "Daniel"},
            0.7,
            ["same name"],
        )

    def why(org: int, kind: str, key: str) -> Any:
        return client.get(f"/api/v1/orgs/{org}/why/{kind}", query_string={"key": key}, headers=AUTH)

    by_mailbox, by_crm = why(org_id, "task", "t-mb").json, why(org_id, "task", "t-crm").json
    assert by_mailbox["link"] == by_crm["link"] == task
    assert (by_mailbox["matchedBy"], by_crm["matchedBy"]) == ("mailboxId", "crmId")
    assert by_crm["userId"] == uid and by_crm["mailbox"] == "ann@acme.com"
    assert by_crm["settings"] == {"direction": "to-crm", "conflict": "newest"}
    assert by_crm["conflict"]["winner"] == "mailbox" and "'mailbox'" in by_crm["why"]

    dupe = why(org_id, "contact", "c-mb").json
    assert dupe["decision"] == "review" and dupe["duplicate"]["score"] == 0.7
    assert dupe["duplicate"]["reasons"] == ["same name"]

    # A calendar link no meeting claim covers answers "meeting" by its event ids.
    event = link(
        org_id,
        uid,
        "calendar",
        mailbox_id="ev-mb",
        crm_id="ev-crm",
        state="failed",
        blocked="h",
        error="422: start is after end",
    )
    meeting = why(org_id, "meeting", "ev-crm").json
    assert meeting["link"] == event and meeting["decision"] == "failed"
    assert "start is after end" in meeting["why"] and meeting["domain"] == "calendar"

    # By its meeting key, the claim answers with that link alongside.
    with session_scope() as s:
        s.add(
            MeetingClaim(
                org_id=org_id,
                meeting_key="ical:abc",
                owner_user_id=uid,
                owner_event_id="ev-mb",
                crm_event_id="ev-crm",
                subject="Review",
            )
        )
    claimed = why(org_id, "meeting", "ical:abc").json
    assert claimed["crmEventId"] == "ev-crm" and claimed["calendarLink"]["link"] == event

    # Another org, or the other domain, knows nothing of these ids.
    assert why(other_org, "task", "t-mb").status_code == 404
    assert why(org_id, "contact", "t-mb").status_code == 404
    missing = why(org_id, "contact", "")
    assert missing.status_code == 400 and "CRM contact's id" in missing.json["error"]

    # The CLI answers the same (datetimes in the duplicate pair included).
    from click.testing import CliRunner

    from brightsync.cli import cli

    out = CliRunner().invoke(cli, ["why", str(org_id), "contact", "c-mb"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["duplicate"]["createdAt"]

    doc = client.get("/api/v1/openapi.json").json
    assert "LinkWhyOut" in doc["components"]["schemas"]
    kind = doc["paths"]["/api/v1/orgs/{orgId}/why/{kind}"]["parameters"][1]
    assert {"contact", "task", "email", "meeting"} <= set(kind["description"].split(", "))
