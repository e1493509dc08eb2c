"""The dashboard's review parts: the pre-sync report with its activate button, held deletions
and possible duplicates with CSRF-protected approve/reject (what the buttons store)."""

from __future__ import annotations

from sqlalchemy import select

from brightsync.db import session_scope
from brightsync.models import HeldDecision, ObjectLink, Organisation, PossibleDuplicate, User
from brightsync.review import mode
from brightsync.review.duplicates import record_possible_duplicate
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_org, make_user
from tests.web.test_dashboard import _csrf, _login


def _held_link(org_id: int, user_id: int) -> int:
    with session_scope() as s:
        row = ObjectLink(
            org_id=org_id,
            user_id=user_id,
            domain="tasks",
            mailbox_id="m-1",
            crm_id="c-1",
            mailbox_fields={"title": "Call Ben"},
            mailbox_base={"title": "Call Ben"},
            crm_gone=True,
            held="mailbox",
            state="held",
        )
        s.add(row)
        s.flush()
        return row.id


def test_review_report_held_deletions_and_duplicates(client):
    org_id = make_org("Acme")
    uid = make_user(org_id, "alice")
    mode.set_mode(mode="review", org_id=org_id)
    mode.record(
        uid,
        "email",
        {
            "emails": [
                {
                    "key": "k1",
                    "subject": "Quote please",
                    "direction": "received",
                    "from": "dave@customer.com",
                    "matched": [{"address": "dave@customer.com", "contactId": "c-dave"}],
                    "createContacts": [],
                    "outcome": "log",
                    "reason": "external",
                }
            ],
            "counts": {"messages": 1, "toLog": 1},
        },
    )
    link_id = _held_link(org_id, uid)
    with session_scope() as s:
        pair = record_possible_duplicate(
            s, org_id, "crm:1", {"name": "Ann Lee"}, "crm:2", {"name": "Anne Lee"}, 0.8, ["name"]
        )
        s.flush()
        pair_id = pair.id

    _login(client)
    page = client.get(f"/dashboard/orgs/{org_id}").get_data(as_text=True)
    assert "review mode" in page and "Quote please" in page and "dave@customer.com" in page
    assert "Call Ben" in page and "Approve deletion" in page
    assert "Same person" in page and "crm:2" in page

    # Without the form's token nothing is decided.
    refused = client.post(f"/dashboard/orgs/{org_id}/held/{link_id}/approve", data={})
    assert refused.status_code == 400
    with session_scope() as s:
        assert s.get(HeldDecision, link_id) is None
    token = _csrf(page)
    r = client.post(
        f"/dashboard/orgs/{org_id}/held/{link_id}/reject",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert b"next run carries it out" in r.data
    with session_scope() as s:
        assert s.get(HeldDecision, link_id).decision == "reject"
    client.post(
        f"/dashboard/orgs/{org_id}/duplicates/{pair_id}/rejected", data={"csrf_token": token}
    )
    with session_scope() as s:
        assert s.get(PossibleDuplicate, pair_id).state == "rejected"

    r = client.post(
        f"/dashboard/orgs/{org_id}/activate", data={"csrf_token": token}, follow_redirects=True
    )
    assert b"Live:" in r.data
    with session_scope() as s:
        assert s.get(Organisation, org_id).mode == "live"
        assert set(s.scalars(select(User.mode).where(User.org_id == org_id))) == {"live"}


def test_review_api_answers_bad_input_with_reasons(client):
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    org_id = make_org("Acme")
    uid = make_user(org_id, "alice")
    cases = [
        ("PUT", f"/api/v1/orgs/{org_id}/mode", {"mode": 3}, 400),
        ("PUT", f"/api/v1/orgs/{org_id}/mode", ["review"], 400),
        ("PUT", f"/api/v1/orgs/{org_id}/mode", {"mode": "review", "x": 1}, 400),
        ("PUT", "/api/v1/orgs/999999/mode", {"mode": "review"}, 404),
        ("GET", "/api/v1/users/999999/review", None, 404),
        ("POST", f"/api/v1/orgs/{org_id}/held-deletions/approve", {"ids": []}, 400),
        ("POST", f"/api/v1/orgs/{org_id}/held-deletions/approve", {"ids": [2**40]}, 400),
        ("POST", f"/api/v1/orgs/{org_id}/held-deletions/approve", {"ids": [True]}, 400),
        ("POST", f"/api/v1/orgs/{org_id}/held-deletions/maybe", {"ids": [1]}, 404),
        ("GET", f"/api/v1/orgs/{org_id}/held-deletions?limit=0", None, 400),
    ]
    for method, path, body, code in cases:
        r = client.open(path, method=method, json=body, headers=auth)
        assert r.status_code == code, (method, path, body, r.status_code, r.data)
        assert r.json["error"]
    # A user cannot go live alone while its organisation reviews.
    assert client.put(f"/api/v1/orgs/{org_id}/mode", json={"mode": "review"}, headers=auth).json[
        "users"
    ] == [uid]
    r = client.put(f"/api/v1/users/{uid}/mode", json={"mode": "live"}, headers=auth)
    assert r.status_code == 409 and "activate the organisation" in r.json["error"]
    r = client.get(f"/api/v1/users/{uid}/review", headers=auth)
    assert r.status_code == 200 and r.json["mode"] == "review"
    assert r.json["emails"] == {"toLog": [], "unmatched": [], "count": 0}
