"""The reference CRM connector: every operation of the contract, over real HTTP."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests

from brightsync.connector.contract import CONTRACT
from brightsync.connector.openapi import connector_openapi
from brightsync.sandbox.crm import create_crm_app
from brightsync.sandbox.crm.breakages import BREAKAGES
from brightsync.sandbox.crm.harness import CrmSandbox

API = "/api/v1"


@pytest.fixture(scope="module")
def crm():
    with CrmSandbox() as sandbox:
        yield sandbox


class Api:
    """A tiny authenticated HTTP helper around one sandbox."""

    def __init__(self, sandbox: CrmSandbox) -> None:
        self.sandbox = sandbox
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {sandbox.token}"

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.sandbox.url + API + path, timeout=10, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs):
        response = self(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None


@pytest.fixture
def api(crm):
    crm.reset()
    return Api(crm)


def iso(value: datetime) -> str:
    return value.isoformat()


# ------------------------------------------------------------------ auth


def test_requests_need_credentials(crm, api):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp5"}):
        response = requests.get(f"{crm.url}{API}/users/me", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.headers["WWW-Authenticate"]
    assert api.ok("GET", "/users/me")["id"]


def test_basic_auth_and_both_schemes():
    with CrmSandbox(token="tok", basic=("api", "pw")) as crm:
        url = f"{crm.url}{API}/users/me"
        assert requests.get(url, auth=("api", "pw"), timeout=5).status_code == 200
        assert requests.get(url, auth=("api", "no"), timeout=5).status_code == 401
        headers = {"Authorization": "Bearer tok"}
        assert requests.get(url, headers=headers, timeout=5).status_code == 200


def test_control_routes_and_openapi_need_no_auth(crm, api):
    assert requests.get(f"{crm.url}/_control/stats", timeout=5).status_code == 200
    document = requests.get(f"{crm.url}/openapi.json", timeout=5).json()
    assert document == connector_openapi()


# ------------------------------------------------------------------ users


def test_users(api, crm):
    crm.seed(users=[{"name": "Bo", "email": "Bo@Corp.com", "timezone": "Europe/Berlin"}])
    me = api.ok("GET", "/users/me")
    assert set(me) >= {"id", "orgId", "name", "email", "timezone"}
    found = api.ok("GET", "/users/lookup", params={"emails": "bo@corp.com, nobody@corp.com"})
    assert [u["name"] for u in found] == ["Bo"]
    assert api("GET", "/users/lookup").status_code == 400


# ------------------------------------------------------------------ emails


EMAIL = {
    "msgId": "AAMk1",
    "syncThreadId": "t-1",
    "inReplyTo": None,
    "receivedAt": "2024-05-01T10:00:00+02:00",
    "rfc822MsgId": "<one@mail.example>",
    "subject": "Hello",
    "fromAddress": "ann@a.com",
    "fromName": "Ann",
    "toAddresses": ["bob@b.com"],
    "ccAddresses": [],
    "bccAddresses": [],
    "textBody": "Hi",
    "htmlBody": "<p>Hi</p>",
    "attachments": [
        {"name": "a.txt", "mimeType": "text/plain", "size": 2, "inline": False, "content": "aGk="}
    ],
    "relatedTo": {"contacts": ["ct_1"], "companies": [], "opportunities": []},
}


def test_email_create_get_lookup_update(api):
    created = api.ok("POST", "/emails", 201, json=EMAIL)
    assert created["id"].startswith("em_")
    assert {k: created[k] for k in EMAIL if k != "attachments"} == {
        k: v for k, v in EMAIL.items() if k != "attachments"
    }
    # The file's bytes are kept apart (the answer does not echo them) and served back.
    (file,) = created["attachments"]
    assert "content" not in file and file["size"] == 2 and file["missing"] is False
    served = api("GET", f"/emails/{created['id']}/attachments/{file['id']}")
    assert served.content == b"hi" and served.headers["Content-Type"].startswith("text/plain")
    other = api.ok("POST", "/emails", 201, json={**EMAIL, "rfc822MsgId": "<two@mail.example>"})
    assert api.ok("GET", f"/emails/{created['id']}") == created

    found = api.ok("GET", "/emails", params={"rfc822MsgId": "<one@mail.example>"})
    assert [e["id"] for e in found] == [created["id"]]
    assert api.ok("GET", "/emails", params={"rfc822MsgId": "<none@mail.example>"}) == []
    assert api("GET", "/emails").status_code == 400

    patched = api.ok("PATCH", f"/emails/{created['id']}", json={"relatedTo": {"contacts": ["c9"]}})
    assert patched["relatedTo"] == {"contacts": ["c9"]}
    assert patched["subject"] == "Hello"
    replaced = api.ok("PUT", f"/emails/{other['id']}", json={"subject": "Only this"})
    assert replaced["subject"] == "Only this" and replaced["textBody"] is None
    assert api("GET", "/emails/em_404").status_code == 404
    assert api("DELETE", f"/emails/{created['id']}").status_code == 405


def test_email_validation_names_the_fields(api):
    response = api("POST", "/emails", json={"subject": 5, "toAddresses": "x@y", "colour": "red"})
    assert response.status_code == 400
    body = response.json()
    assert set(body["fields"]) == {"subject", "toAddresses", "colour"}
    assert "toAddresses" in body["message"]
    bad_nested = api("POST", "/emails", json={"relatedTo": {"accounts": ["x"]}})
    assert bad_nested.json()["fields"] == {"relatedTo": {"accounts": ["Unknown field."]}}
    assert api("POST", "/emails", json=["not", "an", "object"]).status_code == 400
    naive = api("POST", "/emails", json={"receivedAt": "2024-05-01T10:00:00"})
    assert naive.status_code == 400


def test_ids_and_timestamps_are_set_by_the_connector(api):
    created = api.ok(
        "POST",
        "/contacts",
        201,
        json={"id": "mine", "firstName": "A", "lastModifiedAt": "2000-01-01T00:00:00Z"},
    )
    assert created["id"] != "mine"
    assert created["lastModifiedAt"] > "2020"


# ------------------------------------------------------------------ contacts


def test_contact_lookup_is_case_insensitive_over_all_addresses(api):
    ann = api.ok(
        "POST",
        "/contacts",
        201,
        json={"firstName": "Ann", "lastName": "Lee", "emailAddresses": ["Ann@A.com", "ann@b.org"]},
    )
    bob = api.ok("POST", "/contacts", 201, json={"firstName": "Bob", "emailAddresses": ["b@c.io"]})
    assert set(ann) >= {"id", "firstName", "lastName", "emailAddresses", "companyId"}
    assert api.ok("GET", "/contacts/lookup", params={"emails": "ANN@b.ORG"}) == [ann]
    both = api.ok("GET", "/contacts/lookup", params={"emails": "ann@a.com,B@C.IO,x@y.z"})
    assert [c["id"] for c in both] == [ann["id"], bob["id"]]
    repeated = api.ok("GET", "/contacts/lookup?emails=ann@a.com&emails=b@c.io")
    assert len(repeated) == 2
    assert api.ok("GET", "/contacts/lookup", params={"emails": "nobody@x.com"}) == []
    assert api("GET", "/contacts/lookup").status_code == 400


def test_contact_crud_and_last_modified(api):
    created = api.ok("POST", "/contacts", 201, json={"firstName": "C", "emailAddresses": ["c@x"]})
    assert api.ok("GET", f"/contacts/{created['id']}") == created
    updated = api.ok("PATCH", f"/contacts/{created['id']}", json={"title": "CEO"})
    assert updated["title"] == "CEO" and updated["firstName"] == "C"
    assert updated["lastModifiedAt"] > created["lastModifiedAt"]
    assert api("PUT", f"/contacts/{created['id']}", json={}).status_code == 405
    assert api("POST", "/contacts", json={"title": "nobody"}).status_code == 400
    assert api("DELETE", f"/contacts/{created['id']}").status_code == 204
    assert api("GET", f"/contacts/{created['id']}").status_code == 404
    assert api("DELETE", f"/contacts/{created['id']}").status_code == 404
    assert api.ok("GET", "/contacts/lookup", params={"emails": "c@x"}) == []


def test_since_is_inclusive_and_deletions_are_listed(api):
    a = api.ok("POST", "/contacts", 201, json={"firstName": "A"})
    b = api.ok("POST", "/contacts", 201, json={"firstName": "B"})
    changed = api.ok("GET", "/contacts", params={"since": b["lastModifiedAt"]})
    assert [c["id"] for c in changed["records"]] == [b["id"]]
    assert changed["nextPageToken"] is None
    a2 = api.ok("PATCH", f"/contacts/{a['id']}", json={"lastName": "Z"})
    changed = api.ok("GET", "/contacts", params={"since": b["lastModifiedAt"]})
    assert [c["id"] for c in changed["records"]] == [b["id"], a["id"]]  # oldest change first
    later = iso(datetime.now(UTC) + timedelta(minutes=1))
    assert api.ok("GET", "/contacts", params={"since": later})["records"] == []
    other_offset = datetime.fromisoformat(a2["lastModifiedAt"]).astimezone(
        timezone(timedelta(hours=5, minutes=30))
    )
    assert a["id"] in [
        c["id"] for c in api.ok("GET", "/contacts", params={"since": iso(other_offset)})["records"]
    ]

    api.ok("DELETE", f"/contacts/{a['id']}", 204)
    gone = api.ok("GET", "/deletedContacts", params={"since": a2["lastModifiedAt"]})["records"]
    assert [g["id"] for g in gone] == [a["id"]]
    again = api.ok("GET", "/deletedContacts", params={"since": gone[0]["deletedAt"]})["records"]
    assert [g["id"] for g in again] == [a["id"]]  # inclusive
    assert api("GET", "/deletedContacts").status_code == 400
    assert api("GET", "/contacts", params={"since": "2024-05-01T10:00:00"}).status_code == 400
    spaced = api("GET", "/contacts?since=2024-05-01T10:00:00+00:00")
    assert spaced.status_code == 400 and "%2B" in spaced.json()["message"]


def test_token_paging(api, crm):
    crm.seed(contacts=[{"firstName": f"P{i}"} for i in range(5)])
    seen, token, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"pageToken": token} if token else {})}
        page = api.ok("GET", "/contacts", params=params)
        seen += [c["firstName"] for c in page["records"]]
        pages += 1
        token = page["nextPageToken"]
        if not token:
            break
    assert seen == [f"P{i}" for i in range(5)] and pages == 3
    assert api("GET", "/contacts", params={"pageToken": "%%%"}).status_code == 400


def test_offset_paging():
    with CrmSandbox(paging="offset") as crm:
        api = Api(crm)
        crm.seed(contacts=[{"firstName": f"P{i}"} for i in range(5)])
        first = api.ok("GET", "/contacts", params={"limit": 3})
        rest = api.ok("GET", "/contacts", params={"limit": 3, "offset": 3})
        assert [c["firstName"] for c in first + rest] == [f"P{i}" for i in range(5)]


# ------------------------------------------------------------------ leads


def test_leads_are_looked_up_by_any_address_and_converted_to_a_contact(crm, api):
    lead = crm.seed(
        leads=[
            {
                "firstName": "Lena",
                "lastName": "Lead",
                "emailAddresses": ["lena@leadco.io", "l.lead@home.example"],
                "company": "Leadco",
            }
        ]
    )["leads"][0]
    assert lead["id"].startswith("ld_")
    found = api.ok("GET", "/leads/lookup", params={"emails": "nobody@x.io,LENA@LeadCo.io"})
    assert [ld["id"] for ld in found] == [lead["id"]]
    assert api.ok("GET", "/contacts/lookup", params={"emails": "lena@leadco.io"}) == []
    since = datetime.now(UTC)
    converted = requests.post(f"{crm.url}/_control/leads/{lead['id']}/convert", timeout=5)
    assert converted.status_code == 201, converted.text
    contact = converted.json()["contact"]
    assert contact["emailAddresses"] == ["lena@leadco.io", "l.lead@home.example"]
    assert (contact["firstName"], contact["lastName"]) == ("Lena", "Lead")
    # The lead is gone; the contact is found, and listed as a change (the watch sees it).
    assert api.ok("GET", "/leads/lookup", params={"emails": "lena@leadco.io"}) == []
    by_address = api.ok("GET", "/contacts/lookup", params={"emails": "l.lead@home.example"})
    assert [c["id"] for c in by_address] == [contact["id"]]
    changed = api.ok("GET", "/contacts", params={"since": iso(since - timedelta(seconds=1))})
    assert contact["id"] in [c["id"] for c in changed["records"]]
    again = requests.post(f"{crm.url}/_control/leads/{lead['id']}/convert", timeout=5)
    assert again.status_code == 404 and lead["id"] in again.json()["message"]


# ------------------------------------------------------------------ companies, opportunities


def test_companies(api):
    acme = api.ok("POST", "/companies", 201, json={"name": "Acme Inc", "domains": ["acme.com"]})
    assert api.ok("GET", f"/companies/{acme['id']}") == acme
    assert api.ok("GET", "/companies/lookup", params={"domain": "ACME.com"}) == [acme]
    assert api.ok("GET", "/companies/lookup", params={"domain": "eu.acme.com"}) == []
    assert api.ok("GET", "/companies/lookup", params={"name": "acme inc"}) == [acme]
    assert api.ok("GET", "/companies/lookup", params={"name": "Acme"}) == []
    assert api("GET", "/companies/lookup").status_code == 400
    assert api("POST", "/companies", json={"domains": ["x.com"]}).status_code == 400


def test_opportunities(api, crm):
    deals = crm.seed(
        opportunities=[
            {
                "name": "Old",
                "isClosed": False,
                "contactIds": ["c1"],
                "companyId": "k1",
                "lastModifiedAt": "2024-01-01T00:00:00Z",
                "stage": "Proposal",
                "closeDate": "2024-06-30",
            },
            {"name": "Won", "isClosed": True, "contactIds": ["c1", "c2"], "companyId": "k2"},
            {"name": "Other", "isClosed": False, "contactIds": [], "companyId": "k3"},
        ]
    )["opportunities"]
    assert deals[0]["lastModifiedAt"].startswith("2024-01-01T00:00:00")
    assert deals[0]["closeDate"] == "2024-06-30"
    by_contact = api.ok("GET", "/opportunities/lookup", params={"contactIds": "c2,c1"})
    assert [d["name"] for d in by_contact] == ["Old", "Won"]
    by_both = api.ok(
        "GET", "/opportunities/lookup", params={"contactIds": "c2", "companyIds": "k3"}
    )
    assert [d["name"] for d in by_both] == ["Won", "Other"]
    assert api("GET", "/opportunities/lookup").status_code == 400


# ------------------------------------------------------------------ events, tasks


def event(start: datetime, minutes: int = 60, **extra) -> dict:
    return {
        "subject": "Meeting",
        "startTime": iso(start),
        "endTime": iso(start + timedelta(minutes=minutes)),
        **extra,
    }


def test_events(api):
    t = datetime(2031, 3, 1, 9, tzinfo=UTC)
    morning = api.ok(
        "POST",
        "/events",
        201,
        json=event(
            t,
            attendees=[{"emailAddress": "a@x.com", "contactId": 7, "status": "accepted"}],
            allDay=False,
            private=True,
            parentId=3,
            location="HQ",
            relatedTo={"contacts": ["ct_1"]},
        ),
    )
    assert morning["attendees"][0]["contactId"] == 7 and morning["private"] is True
    noon = api.ok("POST", "/events", 201, json=event(t + timedelta(hours=3)))
    window = {"startAt": iso(t + timedelta(minutes=30)), "endAt": iso(t + timedelta(hours=3))}
    assert [e["id"] for e in api.ok("GET", "/events", params=window)["records"]] == [morning["id"]]
    wide = {"startAt": iso(t - timedelta(days=1)), "endAt": iso(t + timedelta(days=1))}
    assert [e["id"] for e in api.ok("GET", "/events", params=wide)["records"]] == [
        morning["id"],
        noon["id"],
    ]
    assert api.ok("GET", f"/events/{noon['id']}") == noon
    moved = api.ok("PATCH", f"/events/{noon['id']}", json={"location": "Room 2"})
    assert moved["lastModifiedAt"] > noon["lastModifiedAt"]
    since = api.ok("GET", "/events", params={"since": moved["lastModifiedAt"]})["records"]
    assert [e["id"] for e in since] == [noon["id"]]
    replaced = api.ok("PUT", f"/events/{noon['id']}", json=event(t, subject="Replaced"))
    assert replaced["subject"] == "Replaced" and replaced["location"] is None
    bad = api("POST", "/events", json=event(t, minutes=-30))
    assert bad.status_code == 400 and "endTime" in bad.json()["fields"]
    assert api("POST", "/events", json={"subject": "no times"}).status_code == 400
    api.ok("DELETE", f"/events/{morning['id']}", 204)
    gone = api.ok("GET", "/deletedEvents", params={"since": morning["lastModifiedAt"]})
    assert [g["id"] for g in gone["records"]] == [morning["id"]]
    assert morning["id"] not in [e["id"] for e in api.ok("GET", "/events", params=wide)["records"]]


def test_tasks(api):
    task = api.ok(
        "POST",
        "/tasks",
        201,
        json={
            "subject": "Call",
            "status": "notStarted",
            "priority": "high",
            "dueDate": "2030-01-01T12:00:00+01:00",
            "ownerId": "us_1",
        },
    )
    assert api.ok("GET", f"/tasks/{task['id']}") == task
    done = api.ok(
        "PATCH",
        f"/tasks/{task['id']}",
        json={"status": "completed", "completedAt": "2030-01-01T13:00:00Z"},
    )
    assert [
        t["id"]
        for t in api.ok("GET", "/tasks", params={"since": done["lastModifiedAt"]})["records"]
    ] == [task["id"]]
    assert len(api.ok("GET", "/tasks")["records"]) == 1
    assert api("POST", "/tasks", json={"status": "x"}).status_code == 400
    api.ok("DELETE", f"/tasks/{task['id']}", 204)
    gone = api.ok("GET", "/deletedTasks", params={"since": done["lastModifiedAt"]})["records"]
    assert [g["id"] for g in gone] == [task["id"]]


# ------------------------------------------------------------------ every operation is routed


def test_every_contract_operation_is_served(crm):
    app = crm.app
    routed = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert {op.id for op in CONTRACT} <= routed


# ------------------------------------------------------------------ control API


def test_stats_count_per_operation(api, crm):
    crm.seed(contacts=[{"firstName": "Seeded"}])  # not counted
    api.ok("GET", "/contacts/lookup", params={"emails": "a@b.c"})
    api.ok("GET", "/contacts/lookup", params={"emails": "a@b.c"})
    email = api.ok("POST", "/emails", 201, json={"subject": "x"})
    api.ok("GET", f"/emails/{email['id']}")
    api("GET", "/nothing-here")
    assert crm.stats() == {
        "total": 5,
        "byOperation": {"contacts.lookup": 2, "emails.create": 1, "emails.get": 1, "unrouted": 1},
        "byStatus": {"200": 3, "201": 1, "404": 1},
        "byMethod": {"GET": 4, "POST": 1},
    }
    crm.reset_stats()
    assert crm.stats() == {"total": 0, "byOperation": {}, "byStatus": {}, "byMethod": {}}


def test_faults(api, crm):
    crm.fault("/api/v1/emails", 503, count=2, retry_after=3, method="POST")
    for _ in range(2):
        failed = api("POST", "/emails", json={"subject": "x"})
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "3"
        assert failed.json()["error"] == "injected"
    assert api("GET", "/emails", params={"rfc822MsgId": "<x>"}).status_code == 200  # other method
    assert api("POST", "/emails", json={"subject": "x"}).status_code == 201
    assert crm.ops()["emails.create"] == 3
    assert crm.stats()["byStatus"]["503"] == 2

    crm.fault("/api/v1/users", 500, count=0)  # every request until cleared
    assert api("GET", "/users/me").status_code == 500
    assert api("GET", "/users/me").status_code == 500
    crm.clear_faults()
    assert api("GET", "/users/me").status_code == 200

    crm.fault("/api/v1/users/me", None, delay=0.3)  # slow, then normal
    started = time.monotonic()
    assert api("GET", "/users/me").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_fault_can_match_one_address(api, crm):
    crm.fault("/api/v1/contacts/lookup", 422, count=0, match="bad@x.com", message="no")
    poisoned = api("GET", "/contacts/lookup", params={"emails": "ok@x.com,bad@x.com"})
    assert poisoned.status_code == 422 and poisoned.json()["message"] == "no"
    assert api("GET", "/contacts/lookup", params={"emails": "ok@x.com"}).status_code == 200
    assert api("POST", "/contacts", json={"emailAddresses": ["bad@x.com"]}).status_code == 201


def test_reset_clears_everything(api, crm):
    api.ok("POST", "/contacts", 201, json={"firstName": "A"})
    crm.fault("/api/", 500, count=5)
    crm.reset()
    assert crm.ops() == {"total": 0}
    assert crm.records("contacts") == []
    assert [u["email"] for u in crm.records("users")] == ["admin@sandbox-crm.example"]
    assert api("GET", "/users/me").status_code == 200


def test_seed_and_records(api, crm):
    stored = crm.seed(
        contacts=[{"id": "c-1", "firstName": "Fixed", "emailAddresses": ["f@x.com"]}],
        companies=[{"name": "Co", "domains": ["x.com"]}],
    )
    assert stored["contacts"][0]["id"] == "c-1"
    assert api.ok("GET", "/contacts/c-1")["firstName"] == "Fixed"
    assert crm.ops() == {"total": 1, "contacts.get": 1}
    bad = requests.post(f"{crm.url}/_control/seed", json={"contacts": [{"x": 1}]}, timeout=5)
    assert bad.status_code == 400
    api.ok("DELETE", "/contacts/c-1", 204)
    assert crm.records("contacts") == []
    assert [c["id"] for c in crm.records("contacts", deleted=True)] == ["c-1"]


# ------------------------------------------------------------------ breakages, storage, threads


def test_unknown_breakage_is_refused():
    with pytest.raises(ValueError):
        create_crm_app(breakages=frozenset({"typo"}))
    assert "no_email_lookup" in BREAKAGES


def test_some_breakages(crm):
    with CrmSandbox(breakages=frozenset({"no_email_lookup", "wrong_field_types", "no_auth"})) as b:
        api = Api(b)
        assert api("GET", "/emails", params={"rfc822MsgId": "<x>"}).status_code == 405
        contact = api.ok("POST", "/contacts", 201, json={"emailAddresses": ["a@x", "b@x"]})
        assert contact["emailAddresses"] == "a@x, b@x"
        assert requests.get(f"{b.url}{API}/users/me", timeout=5).status_code == 200


def test_file_database_persists(tmp_path):
    path = str(tmp_path / "crm.db")
    with CrmSandbox(db_path=path) as first:
        Api(first).ok("POST", "/contacts", 201, json={"firstName": "Kept"})
    with CrmSandbox(db_path=path) as second:
        assert [c["firstName"] for c in second.records("contacts")] == ["Kept"]
        assert len(second.records("users")) == 1


def test_concurrent_writes_get_distinct_ids(api):
    ids: list[str] = []

    def create(n: int) -> None:
        mine = Api(api.sandbox)  # one session per thread
        for i in range(10):
            ids.append(mine.ok("POST", "/contacts", 201, json={"firstName": f"T{n}-{i}"})["id"])

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 40 == len(set(ids))


# ------------------------------------------------------------------ Idempotency-Key, lost answers


def test_a_repeated_create_with_the_same_idempotency_key_answers_the_original(api, crm):
    key = {"Idempotency-Key": "k-1"}
    first = api("POST", "/contacts", json={"firstName": "A"}, headers=key)
    again = api("POST", "/contacts", json={"firstName": "A"}, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    # The key is per collection; no key, or a refused body, makes or consumes nothing.
    company = api.ok("POST", "/companies", 201, json={"name": "Co"}, headers=key)
    assert company["id"].startswith("co_")
    assert (
        api(
            "POST", "/contacts", json={"firstName": 3}, headers={"Idempotency-Key": "k-2"}
        ).status_code
        == 400
    )
    fresh = api.ok(
        "POST", "/contacts", 201, json={"firstName": "B"}, headers={"Idempotency-Key": "k-2"}
    )
    assert fresh["firstName"] == "B"
    api.ok("POST", "/contacts", 201, json={"firstName": "A"})
    assert len(crm.records("contacts")) == 3


def test_faults_after_the_write_store_the_record_and_lose_the_answer(api, crm):
    crm.fault("/api/v1/emails", 502, method="POST", after_write=True)
    lost = api("POST", "/emails", json={"subject": "stored"})
    assert lost.status_code == 502 and "after the write" in lost.json()["message"]
    assert [e["subject"] for e in crm.records("emails")] == ["stored"]
    crm.fault("/api/v1/emails", None, method="POST", after_write=True, delay=2)
    with pytest.raises(requests.ReadTimeout):
        api.http.post(f"{crm.url}{API}/emails", json={"subject": "hung"}, timeout=0.5)
    assert [e["subject"] for e in crm.records("emails")] == ["stored", "hung"]
    assert crm.stats()["byStatus"]["502"] == 1


def test_lookups_follow_changes_and_deletions(api):
    """The lookups find records by their current keys only (the index follows every write)."""
    ann = api.ok(
        "POST", "/contacts", 201, json={"firstName": "Ann", "emailAddresses": ["a@old.io"]}
    )
    moved = api.ok("PATCH", f"/contacts/{ann['id']}", json={"emailAddresses": ["A@new.io"]})
    assert api.ok("GET", "/contacts/lookup", params={"emails": "a@old.io"}) == []
    assert api.ok("GET", "/contacts/lookup", params={"emails": "a@NEW.io"}) == [moved]
    acme = api.ok("POST", "/companies", 201, json={"name": "Acme", "domains": ["Acme.com"]})
    assert api.ok("GET", "/companies/lookup", params={"domain": "acme.com"}) == [acme]
    assert api.ok("GET", "/companies/lookup", params={"name": "ACME "}) == [acme]
    assert api.ok("GET", "/companies/lookup", params={"domain": "acme.com", "name": "x"}) == []
    api.ok("DELETE", f"/contacts/{ann['id']}", 204)
    assert api.ok("GET", "/contacts/lookup", params={"emails": "a@new.io"}) == []


def test_a_store_file_from_before_the_lookup_index_is_indexed_on_open(tmp_path):
    from brightsync.sandbox.crm.store import Store

    path = str(tmp_path / "crm.db")
    store = Store(path)
    store.insert("contacts", {"firstName": "Ann", "emailAddresses": ["ann@a.com"]})
    store.db.execute("DELETE FROM lookup_keys")  # as a file written by an older version
    store.db.close()
    reopened = Store(path)
    assert [c["firstName"] for c in reopened.by_keys("contacts", ["ann@a.com"])] == ["Ann"]


def test_instant_param_wants_an_offset_and_says_how_to_send_a_plus():
    from brightsync.sandbox.crm.errors import BadRequest
    from brightsync.sandbox.crm.wire import instant_param

    assert instant_param("2024-05-01T10:00:00Z", "since") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    with pytest.raises(BadRequest, match=r"since needs an offset, e.g. 2024-05-01T10:00:00Z"):
        instant_param("2024-05-01T10:00:00", "since")
    with pytest.raises(BadRequest, match=r"must be sent as %2B"):
        instant_param("2024-05-01T10:00:00 02:00", "since")
    with pytest.raises(BadRequest, match=r"^startAt is not an ISO 8601 timestamp: 'soon'$"):
        instant_param("soon", "startAt")


def test_a_salesforce_task_picklist_refuses_other_statuses(api, crm):
    assert crm.settings()["taskStatuses"] is None
    assert api("POST", "/tasks", json={"subject": "t", "status": "whatever"}).status_code == 201
    crm.settings(taskStatuses="salesforce")
    refused = api("POST", "/tasks", json={"subject": "t", "status": "completed"})
    assert refused.status_code == 400 and "picklist" in refused.text
    task = api.ok("POST", "/tasks", 201, json={"subject": "t", "status": "Not Started"})
    assert api("PATCH", f"/tasks/{task['id']}", json={"status": "COMPLETED"}).status_code == 400
    api.ok("PATCH", f"/tasks/{task['id']}", json={"status": "Completed"})
    api.ok("PATCH", f"/tasks/{task['id']}", json={"subject": "no status: fine"})
    bad = requests.post(f"{crm.url}/_control/settings", json={"taskStatuses": "sap"}, timeout=5)
    assert bad.status_code == 400
    crm.reset()  # back to the app's own choice: no picklist
    assert crm.settings()["taskStatuses"] is None


def test_a_picklist_chosen_when_the_app_is_made_survives_a_reset():
    with CrmSandbox(task_statuses="hubspot") as b:
        api = Api(b)
        assert (
            api("POST", "/tasks", json={"subject": "t", "status": "Completed"}).status_code == 400
        )
        b.reset()
        api.ok("POST", "/tasks", 201, json={"subject": "t", "status": "COMPLETED"})
    with pytest.raises(ValueError):
        create_crm_app(task_statuses="sap")
