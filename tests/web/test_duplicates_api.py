"""Possible duplicates: recorded once per pair by the sync side, listed by the admin API."""

from __future__ import annotations

from openapi_spec_validator import validate

from brightsync.db import session_scope
from brightsync.people.duplicates import compare
from brightsync.review.duplicates import record_key, record_possible_duplicate
from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def make_org(client, name: str) -> int:
    r = client.post(
        "/api/v1/orgs",
        headers=AUTH,
        json={
            "name": name,
            "domains": [f"{name.lower()}.com"],
            "crm": {"baseUrl": "http://127.0.0.1:9", "authType": "bearer", "token": "t"},
        },
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()["id"]


def test_grey_pairs_are_recorded_once_and_listed_with_both_records(client):
    acme, other = make_org(client, "Acme"), make_org(client, "Globex")
    crm = {
        "id": "c-17",
        "firstName": "Mark",
        "lastName": "Lee",
        "emailAddresses": ["mark@acme.com"],
    }
    mailbox = {
        "id": "AAk=",
        "firstName": "Mary",
        "lastName": "Lee",
        "emailAddresses": ["mary@acme.com"],
    }
    found = compare(crm, mailbox)
    assert found is not None and found.decision == "possible"
    crm_key, mailbox_key = record_key("crm", "c-17"), record_key("mailbox", "AAk=", user_id=3)
    with session_scope() as s:
        record_possible_duplicate(
            s, acme, crm_key, crm, mailbox_key, mailbox, found.score, found.reasons
        )
    # A retried task, or the next run seeing the pair from the other side: still one row.
    with session_scope() as s:
        record_possible_duplicate(s, acme, mailbox_key, mailbox, crm_key, crm, 0.7, ["again"])

    r = client.get(f"/api/v1/orgs/{acme}/duplicates", headers=AUTH)
    assert r.status_code == 200
    page = r.get_json()
    assert page["total"] == 1 and len(page["items"]) == 1
    item = page["items"][0]
    assert {item["a"]["key"], item["b"]["key"]} == {"crm:c-17", "mailbox:3:AAk="}
    sides = {item["a"]["key"]: item["a"]["record"], item["b"]["key"]: item["b"]["record"]}
    assert sides["crm:c-17"] == crm and sides["mailbox:3:AAk="] == mailbox
    assert item["state"] == "open" and item["score"] == 0.7 and item["reasons"] == ["again"]

    # Another organisation sees none of it; decided states are filtered.
    assert client.get(f"/api/v1/orgs/{other}/duplicates", headers=AUTH).get_json()["items"] == []
    rejected = client.get(f"/api/v1/orgs/{acme}/duplicates?state=rejected", headers=AUTH)
    assert rejected.get_json()["total"] == 0
    assert (
        client.get(f"/api/v1/orgs/{acme}/duplicates?state=all", headers=AUTH).get_json()["total"]
        == 1
    )

    # A person decides; the decision survives the pair being seen again.
    pair, url = item["id"], f"/api/v1/orgs/{acme}/duplicates/{item['id']}"
    other_url = f"/api/v1/orgs/{other}/duplicates/{pair}"
    assert client.patch(other_url, headers=AUTH, json={"state": "rejected"}).status_code == 404
    assert client.patch(url, headers=AUTH, json={"state": "merged"}).status_code == 400
    r = client.patch(url, headers=AUTH, json={"state": "rejected"})
    assert r.status_code == 200 and r.get_json()["state"] == "rejected"
    assert r.get_json()["decidedAt"] is not None
    with session_scope() as s:
        record_possible_duplicate(s, acme, crm_key, crm, mailbox_key, mailbox, 0.7, ["seen again"])
    assert client.get(f"/api/v1/orgs/{acme}/duplicates", headers=AUTH).get_json()["total"] == 0
    decided = client.get(f"/api/v1/orgs/{acme}/duplicates?state=rejected", headers=AUTH)
    assert decided.get_json()["items"][0]["reasons"] == ["seen again"]


def test_unknown_org_bad_query_and_missing_token(client):
    assert client.get("/api/v1/orgs/999/duplicates", headers=AUTH).status_code == 404
    org = make_org(client, "Acme")
    for query in ("state=maybe", "limit=0", "limit=x", "offset=-1", "colour=red"):
        r = client.get(f"/api/v1/orgs/{org}/duplicates?{query}", headers=AUTH)
        assert r.status_code == 400, query
        assert r.get_json()["error"] == "invalid request"
    assert client.get(f"/api/v1/orgs/{org}/duplicates").status_code == 401


def test_openapi_documents_the_duplicates_endpoint(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    validate(doc)
    op = doc["paths"]["/api/v1/orgs/{orgId}/duplicates"]["get"]
    assert {"200", "404", "400", "401"} <= set(op["responses"])
    assert "patch" in doc["paths"]["/api/v1/orgs/{orgId}/duplicates/{pairId}"]
    assert "PossibleDuplicateOut" in doc["components"]["schemas"]
