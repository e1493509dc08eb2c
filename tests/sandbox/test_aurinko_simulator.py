"""The Aurinko simulator over real HTTP: auth, delta sync semantics, records, subscriptions,
webhooks, faults, statistics — and every answer checked against Aurinko's OpenAPI document."""

from __future__ import annotations

import base64
import time

import pytest
import requests

from brightsync import signing
from brightsync.sandbox.aurinko import WebhookRecorder
from tests.sandbox.conftest import SIGNING_SECRET, Api


def person(address: str, name: str | None = None) -> dict[str, str]:
    return {"address": address, "name": name or address.split("@")[0].title()}


def mail(control, sender: str, *to: str, **extra):
    return control.mail(
        **{
            "from": person(sender),
            "to": [person(a) for a in to],
            "subject": extra.pop("subject", "Hello"),
            "body": extra.pop("body", "<p>Hi there</p>"),
            **extra,
        }
    )


def run(api: Api, path: str, token: str) -> tuple[list[list[dict]], dict]:
    """Follow one delta run; the pages' records and the last page."""
    pages, params = [], {"deltaToken": token}
    while True:
        r = api("GET", path, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page["records"])
        assert page["length"] == len(page["records"])
        if "nextPageToken" not in page:
            assert page.get("nextDeltaToken")
            return pages, page
        assert "nextDeltaToken" not in page
        params = {"pageToken": page["nextPageToken"]}


def start(api: Api, path: str, **params) -> dict:
    r = api("POST", path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


EVENT = {
    "subject": "Review",
    "start": {"dateTime": "2030-01-10T10:00:00Z", "timezone": "UTC"},
    "end": {"dateTime": "2030-01-10T11:00:00Z", "timezone": "UTC"},
    "meetingInfo": {
        "attendees": [{"emailAddress": person("dana@customer.test"), "type": "required"}]
    },
}
WINDOW = {"timeMin": "2030-01-01T00:00:00Z", "timeMax": "2030-02-01T00:00:00+00:00"}


# --- auth -----------------------------------------------------------------------------------


def test_auth_bearer_basic_dead_and_invalid(aurinko, mailbox):
    url, control = aurinko
    account, api = mailbox("ann@acme.test")
    assert api("GET", "/v1/account").json()["email"] == "ann@acme.test"

    anonymous = requests.get(url + "/v1/account", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "unauthorized" and anonymous.json()["requestId"]
    assert Api(url, "not-a-token")("GET", "/v1/account").status_code == 401

    basic = "Basic " + base64.b64encode(b"sandbox-client:sandbox-secret").decode()
    ok = requests.get(
        url + "/v1/account",
        timeout=5,
        headers={"Authorization": basic, "X-Aurinko-Account-Id": str(account["id"])},
    )
    assert ok.status_code == 200 and ok.json()["id"] == account["id"]
    wrong = "Basic " + base64.b64encode(b"sandbox-client:nope").decode()
    r = requests.get(
        url + "/v1/account",
        timeout=5,
        headers={"Authorization": wrong, "X-Aurinko-Account-Id": str(account["id"])},
    )
    assert r.status_code == 401

    control.set_token(account["id"], "dead")
    r = api("POST", "/v1/email/sync")
    assert r.status_code == 401 and r.json()["code"] == "token.dead"
    status = api("GET", "/v1/account")  # the account endpoint still reports the status
    assert status.status_code == 200 and status.json()["tokenStatus"] == "dead"
    control.set_token(account["id"], "invalid")
    assert api("POST", "/v1/email/sync").json()["code"] == "token.refresh.failed"
    control.set_token(account["id"], "active")
    assert api("POST", "/v1/email/sync").status_code == 200


def test_reauthorizing_issues_a_new_token_and_revokes_the_old(aurinko, mailbox):
    url, control = aurinko
    account, api = mailbox("ann@acme.test")
    control.set_token(account["id"], "dead")
    token = control.reauthorize(account["id"])
    assert token != account["accessToken"]
    assert api("POST", "/v1/email/sync").status_code == 401  # the old token is revoked
    fresh = Api(url, token)("GET", "/v1/account")
    assert fresh.status_code == 200
    assert fresh.json()["id"] == account["id"] and fresh.json()["tokenStatus"] == "active"


# --- delta sync -----------------------------------------------------------------------------


def test_email_paging_and_delta_tokens(aurinko, mailbox):
    url, control = aurinko
    control.settings(pageSize=3)
    account, api = mailbox("ann@acme.test")
    for i in range(7):
        mail(control, "dana@customer.test", "ann@acme.test", subject=f"m{i}")
    tokens = start(api, "/v1/email/sync", daysWithin=7, bodyType="html")
    assert tokens["ready"] is True

    pages, last = run(api, "/v1/email/sync/updated", tokens["syncUpdatedToken"])
    assert [len(p) for p in pages] == [3, 3, 1]
    subjects = [m["subject"] for p in pages for m in p]
    assert subjects == [f"m{i}" for i in range(7)]
    pages, deleted_last = run(api, "/v1/email/sync/deleted", tokens["syncDeletedToken"])
    assert pages == [[]]

    # Nothing new: the stored token answers an empty run (and the same token again).
    pages, again = run(api, "/v1/email/sync/updated", last["nextDeltaToken"])
    assert pages == [[]]

    # New mail, one message trashed twice through the API, one deleted in the mailbox.
    ids = [m["id"] for m in control.messages(account["id"])]
    mail(control, "dana@customer.test", "ann@acme.test", subject="new")
    assert api("DELETE", f"/v1/email/messages/{ids[0]}").json() == {"status": "Ok"}
    assert api("DELETE", f"/v1/email/messages/{ids[0]}").status_code == 200
    control.delete_message(account["id"], ids[1])
    pages, _ = run(api, "/v1/email/sync/updated", again["nextDeltaToken"])
    changed = [m for p in pages for m in p]
    assert sorted(m["subject"] for m in changed) == ["m0", "new"]  # m0 once, latest version
    trashed = next(m for m in changed if m["id"] == ids[0])
    assert "trash" in trashed["sysLabels"] and "inbox" not in trashed["sysLabels"]
    pages, _ = run(api, "/v1/email/sync/deleted", deleted_last["nextDeltaToken"])
    gone = [r for p in pages for r in p]
    assert [r["id"] for r in gone] == [ids[1]]
    assert gone[0]["internetMessageId"] and gone[0]["folderId"] == "INBOX"
    assert gone[0]["timestamp"].endswith("Z")


def test_changes_during_paging_come_with_the_next_run(aurinko, mailbox):
    url, control = aurinko
    control.settings(pageSize=2)
    account, api = mailbox("ann@acme.test")
    contacts = [
        control.create(account["id"], "contacts", {"name": {"givenName": f"C{i}"}})
        for i in range(5)
    ]
    tokens = start(api, "/v1/contacts/sync")
    first = api(
        "GET", "/v1/contacts/sync/updated", params={"deltaToken": tokens["syncUpdatedToken"]}
    ).json()
    assert [c["id"] for c in first["records"]] == [c["id"] for c in contacts[:2]]
    # Change one already returned and one not yet returned, twice each.
    for target in (contacts[0], contacts[3]):
        for n in (1, 2):
            control.update(account["id"], "contacts", target["id"], {"notes": f"edit {n}"})
    rest, params = [], {"pageToken": first["nextPageToken"]}
    while True:
        page = api("GET", "/v1/contacts/sync/updated", params=params).json()
        rest += page["records"]
        if "nextPageToken" not in page:
            break
        params = {"pageToken": page["nextPageToken"]}
    assert [c["id"] for c in rest] == [contacts[2]["id"], contacts[4]["id"]]
    pages, _ = run(api, "/v1/contacts/sync/updated", page["nextDeltaToken"])
    changed = [c for p in pages for c in p]
    assert [c["id"] for c in changed] == [contacts[0]["id"], contacts[3]["id"]]
    assert all(c["notes"] == "edit 2" for c in changed)


def test_not_ready_for_the_first_starts(aurinko, mailbox):
    url, control = aurinko
    account, api = mailbox("ann@acme.test", notReadyStarts={"email": 2})
    assert start(api, "/v1/email/sync") == {"ready": False}
    assert start(api, "/v1/email/sync") == {"ready": False}
    assert start(api, "/v1/email/sync")["ready"] is True
    assert start(api, "/v1/contacts/sync")["ready"] is True  # other services unaffected
    control.account_settings(account["id"], notReadyStarts=1)
    assert start(api, "/v1/contacts/sync")["ready"] is False
    assert start(api, "/v1/contacts/sync")["ready"] is True


@pytest.mark.parametrize("mode", ["410", "400"])
def test_dead_sync_tokens(aurinko, mailbox, mode):
    url, control = aurinko
    control.settings(pageSize=1)
    account, api = mailbox("ann@acme.test")
    for _ in range(2):
        mail(control, "dana@customer.test", "ann@acme.test")
    tokens = start(api, "/v1/email/sync")
    first = api(
        "GET", "/v1/email/sync/updated", params={"deltaToken": tokens["syncUpdatedToken"]}
    ).json()
    control.expire_tokens(account["id"], mode)
    for params in (
        {"deltaToken": tokens["syncUpdatedToken"]},
        {"pageToken": first["nextPageToken"]},
        {"deltaToken": tokens["syncDeletedToken"]},
    ):
        path = (
            "/v1/email/sync/deleted"
            if "deltaToken" in params and params["deltaToken"] == tokens["syncDeletedToken"]
            else "/v1/email/sync/updated"
        )
        r = api("GET", path, params=params)
        if mode == "410":
            assert r.status_code == 410 and r.json()["code"] == "syncToken.expired"
        else:
            assert r.status_code == 400 and r.json()["code"] == "token.notValid"
            assert r.json()["message"] == "Page token is invalid"
    fresh = start(api, "/v1/email/sync")
    pages, _ = run(api, "/v1/email/sync/updated", fresh["syncUpdatedToken"])
    assert sum(len(p) for p in pages) == 2


def test_token_misuse_is_refused(aurinko, mailbox):
    url, control = aurinko
    _, api = mailbox("ann@acme.test")
    _, other = mailbox("bob@acme.test")
    tokens = start(api, "/v1/email/sync")
    bad = [
        (api, "/v1/email/sync/updated", {"deltaToken": "garbage"}),
        (other, "/v1/email/sync/updated", {"deltaToken": tokens["syncUpdatedToken"]}),
        (api, "/v1/contacts/sync/updated", {"deltaToken": tokens["syncUpdatedToken"]}),
        (api, "/v1/email/sync/deleted", {"deltaToken": tokens["syncUpdatedToken"]}),
        (api, "/v1/email/sync/updated", {"pageToken": tokens["syncUpdatedToken"]}),
    ]
    for who, path, params in bad:
        r = who("GET", path, params=params)
        assert r.status_code == 400 and r.json()["code"] == "token.notValid", (path, params)
    assert api("GET", "/v1/email/sync/updated").status_code == 400


# --- email ----------------------------------------------------------------------------------


def test_mail_lands_in_every_mailbox_with_its_own_ids(aurinko, mailbox):
    url, control = aurinko
    ann, _ = mailbox("ann@acme.test")
    bob, _ = mailbox("bob@acme.test", provider="office365")
    eve, _ = mailbox("eve@acme.test", provider="imap")
    out = control.mail(
        **{
            "from": person("ann@acme.test"),
            "to": [person("dana@customer.test")],
            "cc": [person("BOB@acme.test")],
            "bcc": [person("eve@acme.test")],
            "subject": "Quote",
            "body": "Price",
            "bodyType": "text",
            "headers": [{"name": "X-Custom", "value": "1"}],
            "attachments": [{"name": "q.pdf", "mimeType": "application/pdf", "content": "JVBE"}],
        }
    )
    copies = out["copies"]
    assert set(copies) == {str(ann["id"]), str(bob["id"]), str(eve["id"])}
    assert len(set(copies.values())) == 3
    sent = control.messages(ann["id"])[0]
    assert sent["sysLabels"] == ["sent"] and sent["bcc"][0]["address"] == "eve@acme.test"
    assert sent["internetMessageId"] == out["internetMessageId"]
    assert {"name": "X-Custom", "value": "1"} in sent["internetHeaders"]
    assert sent["hasAttachments"] is True
    received = control.messages(bob["id"])[0]
    assert "inbox" in received["sysLabels"] and "bcc" not in received["sysLabels"]
    assert "bcc" not in received  # only the sender's copy shows Bcc
    assert received["threadId"] != sent["threadId"]

    reply = control.mail(
        **{
            "from": person("dana@customer.test"),
            "to": [person("ann@acme.test")],
            "cc": [person("bob@acme.test")],
            "subject": "Re: Quote",
            "body": "ok",
            "inReplyTo": out["internetMessageId"],
            "references": out["internetMessageId"],
        }
    )
    assert set(reply["copies"]) == {str(ann["id"]), str(bob["id"])}
    ann_msgs = control.messages(ann["id"])
    assert ann_msgs[1]["threadId"] == ann_msgs[0]["threadId"]
    bob_msgs = control.messages(bob["id"])
    assert bob_msgs[1]["threadId"] == bob_msgs[0]["threadId"]
    assert (
        control.mail(
            **{
                "from": person("x@nowhere.test"),
                "to": [person("y@nowhere.test")],
                "subject": "s",
                "body": "b",
            }
        )["copies"]
        == {}
    )


def test_imap_list_omits_body_google_includes_it(aurinko, mailbox):
    url, control = aurinko
    _, google = mailbox("ann@acme.test")
    _, imap = mailbox("eve@acme.test", provider="imap")
    mail(
        control,
        "dana@customer.test",
        "ann@acme.test",
        "eve@acme.test",
        body="<p>Hello <b>you</b></p>",
    )
    for api, has_body in ((google, True), (imap, False)):
        tokens = start(api, "/v1/email/sync", bodyType="text")
        pages, _ = run(api, "/v1/email/sync/updated", tokens["syncUpdatedToken"])
        msg = pages[0][0]
        if has_body:
            assert msg["body"] == "Hello you" and "omitted" not in msg
        else:
            assert "body" not in msg and msg["omitted"] == ["body"]
        full = api("GET", f"/v1/email/messages/{msg['id']}").json()
        assert full["body"] == "<p>Hello <b>you</b></p>"
        text = api("GET", f"/v1/email/messages/{msg['id']}", params={"bodyType": "text"})
        assert text.json()["body"] == "Hello you"
    assert imap("GET", "/v1/email/messages/nope").status_code == 404


def test_message_answers_408_until_the_thread_id_is_known(aurinko, mailbox):
    url, control = aurinko
    account, api = mailbox("eve@acme.test", provider="imap", threadIdDelay=1, retryAfter=2)
    out = mail(control, "dana@customer.test", "eve@acme.test")
    message_id = out["copies"][str(account["id"])]
    first = api("GET", f"/v1/email/messages/{message_id}")
    assert first.status_code == 408 and first.headers["Retry-After"] == "2"
    second = api("GET", f"/v1/email/messages/{message_id}")
    assert second.status_code == 200 and second.json()["threadId"]


def test_raw_messages_are_kept_as_is(aurinko, mailbox):
    url, control = aurinko
    account, api = mailbox("ann@acme.test")
    raw = {"id": "weird-1", "subject": None, "from": "not-an-object", "to": "x"}
    assert control.put_message(account["id"], raw) == "weird-1"
    tokens = start(api, "/v1/email/sync")
    pages, _ = run(api, "/v1/email/sync/updated", tokens["syncUpdatedToken"])
    assert pages[0] == [{"id": "weird-1", "from": "not-an-object", "to": "x"}]


# --- calendar, contacts, tasks ----------------------------------------------------------------


def test_calendar_window_bounds_end_and_start(aurinko, mailbox):
    url, control = aurinko
    account, api = mailbox("ann@acme.test")

    def ev(subject, start, end, key="dateTime"):
        return control.create(
            account["id"], "events", {"subject": subject, "start": {key: start}, "end": {key: end}}
        )

    ev("ends at timeMin", "2029-12-31T23:00:00Z", "2030-01-01T00:00:00Z")
    ev("ends after timeMin", "2029-12-31T23:00:00Z", "2030-01-01T00:30:00Z")
    ev("inside", "2030-01-15T09:00:00+02:00", "2030-01-15T10:00:00+02:00")
    ev("all day", "2030-01-20", "2030-01-21", key="dateOnly")
    ev("starts at timeMax", "2030-02-01T00:00:00Z", "2030-02-01T01:00:00Z")
    ev("outside", "2031-01-01T00:00:00Z", "2031-01-01T01:00:00Z")
    assert api("POST", "/v1/calendars/primary/sync").status_code == 400  # both bounds required
    tokens = start(api, "/v1/calendars/primary/sync", **WINDOW)
    pages, _ = run(api, "/v1/calendars/primary/sync/updated", tokens["syncUpdatedToken"])
    assert [e["subject"] for e in pages[0]] == ["ends after timeMin", "inside", "all day"]
    real_id = api("GET", "/v1/calendars").json()["records"][0]["id"]
    assert real_id == "ann@acme.test"  # Google names the primary calendar after the user
    tokens = start(api, f"/v1/calendars/{real_id}/sync", **WINDOW)
    pages, _ = run(api, f"/v1/calendars/{real_id}/sync/updated", tokens["syncUpdatedToken"])
    assert len(pages[0]) == 3 and pages[0][0]["calendarId"] == real_id
    assert api("POST", "/v1/calendars/other/sync", params=WINDOW).status_code == 404


def test_calendar_window_holds_a_series_whose_occurrences_reach_it(aurinko, mailbox):
    """A series that began before timeMin is listed while it runs on (its master), as the
    providers list it; one that ended before the window is not."""
    url, control = aurinko
    account, api = mailbox("ann@acme.test")

    def series(subject, rng):
        control.meeting(
            organizer={"address": "ann@acme.test"},
            subject=subject,
            start={"dateTime": "2029-06-01T09:00:00Z", "timezone": "UTC"},
            end={"dateTime": "2029-06-01T09:15:00Z", "timezone": "UTC"},
            recurrence={"simple": {"pattern": {"frequency": "daily"}, "range": rng}},
        )

    series("open", {"type": "noEnd"})
    series("into the window", {"type": "endDate", "recurrenceEnd": "2030-01-05"})
    series("ended before", {"type": "endDate", "recurrenceEnd": "2029-12-30"})
    tokens = start(api, "/v1/calendars/primary/sync", **WINDOW)
    pages, _ = run(api, "/v1/calendars/primary/sync/updated", tokens["syncUpdatedToken"])
    assert sorted(e["subject"] for e in pages[0]) == ["into the window", "open"]


def test_event_crud_with_etags(aurinko, mailbox):
    url, control = aurinko
    account, api = mailbox("ann@acme.test")
    r = api(
        "POST",
        "/v1/calendars/primary/events",
        params={"notifyAttendees": "false", "returnRecord": "true"},
        json=EVENT,
    )
    assert r.status_code == 201
    created = r.json()
    event = created["record"]
    assert created["iCalUId"] == event["iCalUid"] and created["etag"] == event["etag"]
    assert event["organizer"]["emailAddress"]["address"] == "ann@acme.test"
    assert event["meetingInfo"]["attendees"][0]["emailAddress"]["address"] == "dana@customer.test"
    path = f"/v1/calendars/primary/events/{event['id']}"
    assert api("GET", path).json() == event

    r = api("PATCH", path, json={"subject": "Moved"}, headers={"If-Match": event["etag"]})
    assert r.status_code == 200 and r.json()["record"]["subject"] == "Moved"
    new_etag = r.json()["etag"]
    assert new_etag != event["etag"]
    stale = api("PATCH", path, json={"subject": "Lost"}, headers={"If-Match": event["etag"]})
    assert stale.status_code == 412
    assert api("PATCH", path, json={"subject": "x"}).status_code == 400  # If-Match required
    assert api("GET", path).json()["subject"] == "Moved"
    bad = api("POST", "/v1/calendars/primary/events", json={"subject": "no times"})
    assert bad.status_code == 400
    assert api("DELETE", path).status_code == 200
    assert api("GET", path).status_code == 404
    assert api("DELETE", path).status_code == 404
    quiet = api(
        "POST", "/v1/calendars/primary/events", params={"returnRecord": "false"}, json=EVENT
    ).json()
    assert "record" not in quiet and quiet["id"]


def test_contacts_and_tasks_crud(aurinko, mailbox):
    url, control = aurinko
    account, api = mailbox("ann@acme.test")
    r = api(
        "POST",
        "/v1/contacts",
        json={
            "name": {"givenName": "Sam", "familyName": "Black"},
            "emailAddresses": [{"address": "sam@customer.test", "type": "work"}],
            "unknownField": 1,
        },
    )
    assert r.status_code == 201
    contact = r.json()["record"]
    assert contact["name"]["displayName"] == "Sam Black" and "unknownField" not in contact
    path = f"/v1/contacts/{contact['id']}"
    r = api("PATCH", path, json={"notes": "vip"}, headers={"If-Match": contact["etag"]})
    assert r.status_code == 200 and r.json()["record"]["notes"] == "vip"
    assert (
        api("PATCH", path, json={"notes": "x"}, headers={"If-Match": contact["etag"]}).status_code
        == 412
    )
    assert api("DELETE", path).status_code == 200
    assert api("GET", path).status_code == 404

    lists = api("GET", "/v1/tasklists").json()
    assert lists["records"][0]["defaultList"] is True
    r = api("POST", "/v1/tasklists/default/tasks", json={"title": "Call Sam", "previousId": "x"})
    assert r.status_code == 201
    task = r.json()["record"]
    assert task["status"] == "notStarted" and "previousId" not in task
    path = f"/v1/tasklists/default/tasks/{task['id']}"
    done = api("PATCH", path, json={"status": "completed"}, headers={"If-Match": task["etag"]})
    assert done.status_code == 200 and done.json()["record"]["completed"]
    assert (
        api("PATCH", path, json={"title": "y"}, headers={"If-Match": task["etag"]}).status_code
        == 412
    )
    assert api("PATCH", path, json={"title": "no etag"}).status_code == 200  # optional here
    assert api("PATCH", path, json={"status": "bogus"}).status_code == 400
    real_list = lists["records"][0]["id"]
    assert api("GET", f"/v1/tasklists/{real_list}/tasks/{task['id']}").json()["title"] == "no etag"
    assert api("DELETE", path).json() == {"status": "Ok"}


def test_tasks_sync_skips_completed_before_date(aurinko, mailbox):
    url, control = aurinko
    account, api = mailbox("ann@acme.test")
    control.create(
        account["id"],
        "tasks",
        {"title": "old", "status": "completed", "completed": "2020-01-01T00:00:00Z"},
    )
    control.create(
        account["id"],
        "tasks",
        {"title": "recent", "status": "completed", "completed": "2030-01-01T00:00:00Z"},
    )
    control.create(account["id"], "tasks", {"title": "open"})
    tokens = start(
        api, "/v1/tasklists/default/sync", skipCompletedBeforeDate="2025-01-01T00:00:00Z"
    )
    pages, _ = run(api, "/v1/tasklists/default/sync/updated", tokens["syncUpdatedToken"])
    assert [t["title"] for t in pages[0]] == ["recent", "open"]


# --- subscriptions and webhooks -------------------------------------------------------------


def test_subscription_handshake_success_and_failure(aurinko, mailbox, receiver):
    url, control = aurinko
    account, api = mailbox("ann@acme.test")
    r = api(
        "POST",
        "/v1/subscriptions",
        json={
            "resource": "/email/messages",
            "notificationUrl": receiver.url + "?user=1",
            "filters": ["withoutDrafts"],
        },
    )
    assert r.status_code == 200, r.text
    sub = r.json()
    assert sub["active"] is True and sub["resource"] == "/email/messages"
    assert sub["filters"] == ["withoutDrafts"]
    (check,) = receiver.validations()
    assert check["args"]["user"] == "1" and check["args"]["validationToken"]
    assert check["contentType"].startswith("text/plain")
    assert check["signatureError"] is None  # signed like every notification

    for answer in ("wrong", 500):
        with WebhookRecorder(SIGNING_SECRET, answer=answer) as bad:
            r = api(
                "POST",
                "/v1/subscriptions",
                json={"resource": "/contacts", "notificationUrl": bad.url},
            )
            assert r.status_code == 400, answer
            assert len(bad.validations()) == 1
    dead_url = receiver.url.replace("/hook", "/missing")
    assert (
        api(
            "POST", "/v1/subscriptions", json={"resource": "/contacts", "notificationUrl": dead_url}
        ).status_code
        == 400
    )
    assert (
        api(
            "POST", "/v1/subscriptions", json={"resource": "/nope", "notificationUrl": receiver.url}
        ).status_code
        == 400
    )

    for resource in ("/calendars/primary/events", "/contacts", "/tasklists/default/tasks"):
        assert (
            api(
                "POST",
                "/v1/subscriptions",
                json={"resource": resource, "notificationUrl": receiver.url},
            ).status_code
            == 200
        )
    page = api("GET", "/v1/subscriptions", params={"limit": 3, "offset": 0}).json()
    assert page["totalSize"] == 4 and len(page["records"]) == 3 and page["done"] is False
    page2 = api("GET", "/v1/subscriptions", params={"limit": 3, "offset": 3}).json()
    assert len(page2["records"]) == 1 and page2["done"] is True
    assert api("GET", f"/v1/subscriptions/{sub['id']}").json() == sub
    _, other = mailbox("bob@acme.test")
    assert other("GET", f"/v1/subscriptions/{sub['id']}").status_code == 404
    assert api("DELETE", f"/v1/subscriptions/{sub['id']}").status_code == 200
    assert api("GET", f"/v1/subscriptions/{sub['id']}").status_code == 404


def test_webhooks_are_signed_batched_and_scoped(aurinko, mailbox, receiver):
    url, control = aurinko
    control.settings(webhookDebounce=0.3)  # wide enough for the burst below on a busy box
    account, api = mailbox("ann@acme.test")
    _, other = mailbox("bob@acme.test")
    email_sub = api(
        "POST",
        "/v1/subscriptions",
        json={"resource": "/email/messages", "notificationUrl": receiver.url},
    ).json()
    cal_sub = api(
        "POST",
        "/v1/subscriptions",
        json={"resource": "/calendars/primary/events", "notificationUrl": receiver.url},
    ).json()
    ids = [
        mail(control, "dana@customer.test", "ann@acme.test")["copies"][str(account["id"])]
        for _ in range(3)
    ]
    mail(control, "dana@customer.test", "bob@acme.test")  # no subscription for bob
    got = receiver.wait(lambda n: sum(len(x["json"]["payloads"]) for x in n) >= 3)
    assert all(n["signatureError"] is None for n in got)
    for n in got:
        assert (
            signing.verify(
                SIGNING_SECRET,
                n["headers"]["X-Aurinko-Request-Timestamp"],
                n["headers"]["X-Aurinko-Signature"],
                n["body"],
            )
            is None
        )
    bodies = [n["json"] for n in got]
    assert len(bodies) < 3  # the burst was batched
    assert all(
        b["subscription"] == email_sub["id"]
        and b["resource"] == "/email/messages"
        and b["accountId"] == account["id"]
        for b in bodies
    )
    payloads = [p for b in bodies for p in b["payloads"]]
    assert payloads == [{"id": i, "changeType": "created"} for i in ids]

    event = api("POST", "/v1/calendars/primary/events", json=EVENT).json()
    api("DELETE", f"/v1/calendars/primary/events/{event['id']}")
    got = receiver.wait(
        lambda n: (
            any(x["json"]["subscription"] == cal_sub["id"] for x in n)
            and sum(len(x["json"]["payloads"]) for x in n) >= 5
        )
    )
    cal = [
        p for n in got if n["json"]["subscription"] == cal_sub["id"] for p in n["json"]["payloads"]
    ]
    assert cal == [
        {"id": event["id"], "changeType": "created"},
        {"id": event["id"], "changeType": "deleted"},
    ]
    # The receiver has every notification; the simulator records each outcome just after.
    assert control.flush_webhooks()
    log = control.webhooks(account_id=account["id"])
    assert [d["kind"] for d in log].count("validation") == 2
    assert all(d["ok"] for d in log if d["kind"] == "notification")


def test_drafts_filter_and_failed_deliveries(aurinko, mailbox, receiver):
    url, control = aurinko
    control.settings(webhookAttempts=3, webhookRetryDelay=0.01)
    account, api = mailbox("ann@acme.test")
    sub = api(
        "POST",
        "/v1/subscriptions",
        json={
            "resource": "/email/messages",
            "notificationUrl": receiver.url,
            "filters": ["withoutDrafts"],
        },
    ).json()
    mail(control, "ann@acme.test", "dana@customer.test", sysLabels=["draft"])
    receiver.status = 500
    mail(control, "dana@customer.test", "ann@acme.test")
    assert control.flush_webhooks()
    notes = receiver.notifications()
    assert len(notes) == 3  # one notification (not the draft), three attempts
    (delivery,) = [
        d for d in control.webhooks(subscription=sub["id"]) if d["kind"] == "notification"
    ]
    assert delivery["ok"] is False and [a["status"] for a in delivery["attempts"]] == [500] * 3
    failing = api("GET", f"/v1/subscriptions/{sub['id']}").json()
    assert failing["failSince"] and "500" in failing["failDescription"]
    receiver.status = 200
    mail(control, "dana@customer.test", "ann@acme.test")
    assert control.flush_webhooks()
    assert "failSince" not in api("GET", f"/v1/subscriptions/{sub['id']}").json()


def test_lifecycle_notification(aurinko, mailbox, receiver):
    url, control = aurinko
    account, api = mailbox("ann@acme.test")
    sub = api(
        "POST", "/v1/subscriptions", json={"resource": "/contacts", "notificationUrl": receiver.url}
    ).json()
    assert control.lifecycle(account["id"], "error", "mailbox gone") == [sub["id"]]
    (note,) = receiver.wait(lambda n: len(n) >= 1)
    assert note["json"] == {
        "subscription": sub["id"],
        "resource": "/contacts",
        "accountId": account["id"],
        "lifecycleEvent": "error",
        "error": "mailbox gone",
    }
    assert note["signatureError"] is None


# --- faults, statistics, reset ----------------------------------------------------------------


def test_faults_statistics_and_reset(aurinko, mailbox):
    url, control = aurinko
    account, api = mailbox("ann@acme.test")
    control.fault("/v1/email/", status=429, count=2, retry_after=3, method="POST")
    for _ in range(2):
        r = api("POST", "/v1/email/sync")
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
        assert r.json()["code"] == "tooManyRequests"
    assert api("GET", "/v1/email/sync/updated").status_code == 400  # GET not matched
    assert api("POST", "/v1/email/sync").status_code == 200  # count used up
    control.fault("/v1/account", delay=0.3)
    began = time.monotonic()
    assert api("GET", "/v1/account").status_code == 200
    assert time.monotonic() - began >= 0.3
    control.fault("/v1/contacts", status=503, count=None)
    assert api("POST", "/v1/contacts/sync").status_code == 503
    assert api("POST", "/v1/contacts/sync").status_code == 503
    control.clear_faults()
    assert api("POST", "/v1/contacts/sync").status_code == 200

    stats = control.stats()
    assert stats["byOperation"]["email.sync.start"] == 3
    assert stats["byOperation"]["contacts.sync.start"] == 3
    assert stats["byAccount"][str(account["id"])]["account.get"] == 1
    assert stats["byStatus"]["429"] == 2 and sum(stats["bySecond"].values()) == stats["total"]
    assert control.count("email.sync.updated", account["id"]) == 1
    control.reset_stats()
    assert control.stats()["total"] == 0

    control.reset()
    assert api("GET", "/v1/account").status_code == 401  # the account is gone


def test_after_write_faults_store_the_write_and_lose_its_answer(aurinko, mailbox):
    """`afterWrite`: the create or update is carried out, then answered 502 or not in time."""
    url, control = aurinko
    account, api = mailbox("ann@acme.test")
    control.fault("/v1/contacts", status=502, method="POST", after_write=True, exact=True)
    assert api("POST", "/v1/contacts/sync").status_code == 200  # `exact`: not this one
    r = api("POST", "/v1/contacts", json={"name": {"givenName": "Lost", "familyName": "Answer"}})
    assert r.status_code == 502 and r.json()["code"] == "badGateway"
    stored = control.records(account["id"], "contacts")
    assert [c["name"]["givenName"] for c in stored] == ["Lost"]  # stored all the same
    control.fault("/v1/contacts", delay=0.3, method="PATCH", after_write=True)
    began = time.monotonic()
    r = api(
        "PATCH",
        f"/v1/contacts/{stored[0]['id']}",
        json={"name": {"givenName": "Late"}},
        headers={"If-Match": stored[0]["etag"]},
    )
    assert r.status_code == 200 and time.monotonic() - began >= 0.3
    assert control.records(account["id"], "contacts")[0]["name"]["givenName"] == "Late"
    assert control.stats()["byStatus"]["502"] == 1


# --- conformance with Aurinko's OpenAPI document --------------------------------------------


def test_answers_match_the_openapi_schemas(aurinko, mailbox, receiver, openapi):
    url, control = aurinko
    control.settings(pageSize=2)
    account, api = mailbox("ann@acme.test")
    _, imap = mailbox("eve@acme.test", provider="imap")
    for i in range(3):
        control.mail(
            **{
                "from": person("dana@customer.test"),
                "to": [person("ann@acme.test")],
                "cc": [person("eve@acme.test")],
                "subject": f"s{i}",
                "body": "<b>x</b>",
                "attachments": [
                    {
                        "name": "a.txt",
                        "mimeType": "text/plain",
                        "content": "eA==",
                        "contentType": "ignored",
                    }
                ],
                "meetingMessageMethod": "request",
                "inReplyTo": "<a@b>",
                "references": "<a@b>",
            }
        )
    check = openapi.check

    check(api("GET", "/v1/account"), "/v1/account")
    for who in (api, imap):
        tokens = check(who("POST", "/v1/email/sync", params={"daysWithin": 3}), "/v1/email/sync")
        page = check(
            who("GET", "/v1/email/sync/updated", params={"deltaToken": tokens["syncUpdatedToken"]}),
            "/v1/email/sync/updated",
        )
        check(
            who("GET", "/v1/email/sync/updated", params={"pageToken": page["nextPageToken"]}),
            "/v1/email/sync/updated",
        )
        message_id = page["records"][0]["id"]
        check(who("GET", f"/v1/email/messages/{message_id}"), "/v1/email/messages/{messageId}")
        check(who("DELETE", f"/v1/email/messages/{message_id}"), "/v1/email/messages/{messageId}")
    ann_ids = [m["id"] for m in control.messages(account["id"])]
    control.delete_message(account["id"], ann_ids[1])
    check(
        api("GET", "/v1/email/sync/deleted", params={"deltaToken": tokens["syncDeletedToken"]}),
        "/v1/email/sync/deleted",
    )
    ann_tokens = api("POST", "/v1/email/sync").json()
    deleted = check(
        api("GET", "/v1/email/sync/deleted", params={"deltaToken": ann_tokens["syncDeletedToken"]}),
        "/v1/email/sync/deleted",
    )
    assert deleted["records"] == []

    # calendar
    check(api("GET", "/v1/calendars"), "/v1/calendars")
    check(api("GET", "/v1/calendars/primary"), "/v1/calendars/{id}")
    created = check(
        api("POST", "/v1/calendars/primary/events", json=EVENT), "/v1/calendars/{calendarId}/events"
    )
    control.create(
        account["id"],
        "events",
        {
            "subject": "All day",
            "start": {"dateOnly": "2030-01-05"},
            "end": {"dateOnly": "2030-01-06"},
            "sensitivity": "private",
            "organizer": {"emailAddress": person("dana@customer.test")},
            "iCalUid": "shared-uid@customer.test",
            "meetingInfo": {
                "response": "accepted",
                "attendees": [{"emailAddress": person("ann@acme.test"), "response": "tentitive"}],
            },
        },
    )
    event_path = "/v1/calendars/{calendarId}/events/{eventId}"
    path = f"/v1/calendars/primary/events/{created['id']}"
    check(api("GET", path), event_path)
    check(
        api("PATCH", path, json={"location": "Room 1"}, headers={"If-Match": created["etag"]}),
        event_path,
    )
    cal = check(
        api("POST", "/v1/calendars/primary/sync", params=WINDOW), "/v1/calendars/{calendarId}/sync"
    )
    check(
        api(
            "GET",
            "/v1/calendars/primary/sync/updated",
            params={"deltaToken": cal["syncUpdatedToken"]},
        ),
        "/v1/calendars/{calendarId}/sync/updated",
    )
    check(api("DELETE", path), event_path)
    check(
        api(
            "GET",
            "/v1/calendars/primary/sync/deleted",
            params={"deltaToken": cal["syncDeletedToken"]},
        ),
        "/v1/calendars/{calendarId}/sync/deleted",
    )

    # contacts
    contact = check(
        api(
            "POST",
            "/v1/contacts",
            json={
                "name": {"givenName": "Sam"},
                "company": {"name": "Customer", "jobTitle": "CTO"},
                "emailAddresses": [{"address": "sam@customer.test", "type": "work"}],
                "phoneNumbers": [{"number": "+1 415 555 0100", "type": "work"}],
            },
        ),
        "/v1/contacts",
    )
    cpath = f"/v1/contacts/{contact['id']}"
    check(api("GET", cpath), "/v1/contacts/{contId}")
    check(
        api("PATCH", cpath, json={"notes": "n"}, headers={"If-Match": contact["etag"]}),
        "/v1/contacts/{contId}",
    )
    ct = check(api("POST", "/v1/contacts/sync"), "/v1/contacts/sync")
    check(
        api("GET", "/v1/contacts/sync/updated", params={"deltaToken": ct["syncUpdatedToken"]}),
        "/v1/contacts/sync/updated",
    )
    check(api("DELETE", cpath), "/v1/contacts/{contId}")
    check(
        api("GET", "/v1/contacts/sync/deleted", params={"deltaToken": ct["syncDeletedToken"]}),
        "/v1/contacts/sync/deleted",
    )

    # tasks
    check(api("GET", "/v1/tasklists"), "/v1/tasklists")
    task = check(
        api(
            "POST",
            "/v1/tasklists/default/tasks",
            json={"title": "Call", "due": "2030-01-02T10:00:00Z", "importance": "high"},
        ),
        "/v1/tasklists/{taskListId}/tasks",
    )
    tpath = f"/v1/tasklists/default/tasks/{task['id']}"
    check(api("GET", tpath), "/v1/tasklists/{taskListId}/tasks/{id}")
    check(
        api("PATCH", tpath, json={"status": "completed"}), "/v1/tasklists/{taskListId}/tasks/{id}"
    )
    tt = check(api("POST", "/v1/tasklists/default/sync"), "/v1/tasklists/{taskListId}/sync")
    check(
        api(
            "GET",
            "/v1/tasklists/default/sync/updated",
            params={"deltaToken": tt["syncUpdatedToken"]},
        ),
        "/v1/tasklists/{taskListId}/sync/updated",
    )
    check(api("DELETE", tpath), "/v1/tasklists/{taskListId}/tasks/{id}")
    check(
        api(
            "GET",
            "/v1/tasklists/default/sync/deleted",
            params={"deltaToken": tt["syncDeletedToken"]},
        ),
        "/v1/tasklists/{taskListId}/sync/deleted",
    )

    # subscriptions
    sub = check(
        api(
            "POST",
            "/v1/subscriptions",
            json={
                "resource": "/email/messages",
                "notificationUrl": receiver.url,
                "filters": ["withoutDrafts"],
            },
        ),
        "/v1/subscriptions",
    )
    check(api("GET", "/v1/subscriptions"), "/v1/subscriptions")
    check(api("GET", f"/v1/subscriptions/{sub['id']}"), "/v1/subscriptions/{id}")
    control.set_subscription(sub["id"], failDescription="receiver down")
    check(api("GET", f"/v1/subscriptions/{sub['id']}"), "/v1/subscriptions/{id}")

    # errors
    check(requests.get(url + "/v1/account", timeout=5), "/v1/account")
    control.expire_tokens(account["id"], "410")
    check(
        api("GET", "/v1/contacts/sync/updated", params={"deltaToken": ct["syncUpdatedToken"]}),
        "/v1/contacts/sync/updated",
    )
    control.expire_tokens(account["id"], "400")
    check(
        api("GET", "/v1/email/sync/updated", params={"deltaToken": ann_tokens["syncUpdatedToken"]}),
        "/v1/email/sync/updated",
    )


def test_a_meeting_has_a_copy_per_invitee_and_only_the_organizer_changes_it(aurinko, mailbox):
    url, control = aurinko
    boss, boss_api = mailbox("boss@acme.test")
    ann, ann_api = mailbox("ann@acme.test")
    meeting = control.meeting(
        organizer={"address": "boss@acme.test"},
        subject="Weekly",
        start={"dateTime": "2026-03-10T10:00:00+01:00", "timezone": "Europe/Berlin"},
        end={"dateTime": "2026-03-10T11:00:00+01:00", "timezone": "Europe/Berlin"},
        meetingInfo={"attendees": [{"emailAddress": {"address": "ann@acme.test"}}]},
        recurrence={"simple": {"pattern": {"frequency": "weekly"}, "range": {"type": "noEnd"}}},
        responses={"ann@acme.test": "tentitive"},
    )
    copies = meeting["copies"]
    assert set(copies) == {"boss@acme.test", "ann@acme.test"}
    assert copies["boss@acme.test"] != copies["ann@acme.test"]
    ann_path = f"/v1/calendars/primary/events/{copies['ann@acme.test']}"
    mine = ann_api("GET", ann_path).json()
    assert mine["iCalUid"] == meeting["iCalUid"] and mine["recurrenceType"] == "master"
    assert mine["meetingInfo"]["attendees"][0]["response"] == "tentitive"
    refused = ann_api("PATCH", ann_path, json={"subject": "Mine"}, headers={"If-Match": "*"})
    assert refused.status_code == 403
    assert ann_api("DELETE", ann_path).status_code == 403

    boss_path = f"/v1/calendars/primary/events/{copies['boss@acme.test']}"
    etag = boss_api("GET", boss_path).json()["etag"]
    r = boss_api(
        "PATCH", boss_path, json={"subject": "Weekly (new room)"}, headers={"If-Match": etag}
    )
    assert r.status_code == 200
    assert ann_api("GET", ann_path).json()["subject"] == "Weekly (new room)"

    moved = control.occurrence(
        meeting["iCalUid"],
        type="modified",
        originalStart={"dateTime": "2026-03-17T10:00:00+01:00", "timezone": "Europe/Berlin"},
        start={"dateTime": "2026-03-18T15:00:00+01:00", "timezone": "Europe/Berlin"},
        end={"dateTime": "2026-03-18T16:00:00+01:00", "timezone": "Europe/Berlin"},
    )
    exception = ann_api("GET", f"/v1/calendars/primary/events/{moved['ann@acme.test']}").json()
    assert exception["recurrenceType"] == "occurrence"
    assert exception["occurrenceInfo"]["masterId"] == copies["ann@acme.test"]

    assert boss_api("DELETE", boss_path).status_code == 200
    assert ann_api("GET", ann_path).json()["meetingInfo"]["canceled"] is True


def test_bulk_seeding_accounts_subscriptions_and_mail(aurinko):
    """Large scenarios: many accounts with live subscriptions and their mail in one request;
    mail lands in its sender's and recipients' mailboxes only."""
    url, _control = aurinko
    sub = {"resource": "/email/messages", "notificationUrl": "http://127.0.0.1:9/hook"}
    answer = requests.post(
        url + "/_control/bulk",
        timeout=30,
        json={
            "accounts": [
                {"email": f"u{i}@acme.com", "provider": "imap", "subscriptions": [sub]}
                for i in range(3)
            ],
            "mail": [
                {
                    "from": person("c@customer.com"),
                    "to": [person("u0@acme.com")],
                    "cc": [person("U1@acme.com")],
                    "subject": "Order",
                }
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["mail"] == 1
    accounts = body["accounts"]
    assert [a["email"] for a in accounts] == ["u0@acme.com", "u1@acme.com", "u2@acme.com"]
    for a in accounts:
        api = Api(url, a["accessToken"])
        live = api("GET", "/v1/subscriptions").json()["records"]
        assert [s["id"] for s in live] == [a["subscriptions"][0]["id"]]
        assert live[0]["resource"] == "/email/messages" and live[0]["active"]
    held = [
        [
            m["subject"]
            for m in requests.get(f"{url}/_control/accounts/{a['id']}/messages", timeout=10).json()[
                "records"
            ]
        ]
        for a in accounts
    ]
    assert held == [["Order"], ["Order"], []]
