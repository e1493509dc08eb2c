"""AurinkoClient against the simulator over real HTTP: delta sync, records, subscriptions,
every retry path (attempts counted by the simulator), error mapping, the shared rate budget
across worker processes, and conformance of its requests with Aurinko's OpenAPI document."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
import time
import uuid
from typing import Any

import pytest
import requests

from brightsync import signing
from brightsync.clients import aurinko as aurinko_module
from brightsync.clients.aurinko import (
    SERVICE_RESOURCES,
    AurinkoClient,
    DeltaPage,
    SyncTokenExpired,
    TokenDeadError,
    service_for_resource,
)
from brightsync.clients.http import (
    AuthError,
    FinalError,
    NotFoundError,
    PreconditionFailed,
    RetryPolicy,
    TransientError,
)
from tests.conftest import SIGNING_SECRET as SECRET  # the `aurinko` fixture signs with it

EVENT = {
    "subject": "Kick-off",
    "start": {"dateTime": "2030-03-01T09:00:00Z", "timezone": "UTC"},
    "end": {"dateTime": "2030-03-01T10:00:00Z", "timezone": "UTC"},
    "meetingInfo": {"attendees": [{"emailAddress": {"address": "dana@customer.test"}}]},
}


def deliver(control, sender: str, *to: str, **extra: Any) -> dict[str, Any]:
    return control.mail(
        **{
            "from": {"address": sender},
            "to": [{"address": a} for a in to],
            "subject": extra.pop("subject", "Hello"),
            "body": extra.pop("body", "<p>Hi</p>"),
            **extra,
        }
    )


def drain(client: AurinkoClient, service: str, kind: str, token: str, **kw: Any):
    pages = list(client.delta_pages(service, kind, token, **kw))
    return pages, [r for p in pages for r in p.records]


# --- resources --------------------------------------------------------------------------------


def test_service_for_resource():
    for service, resource in SERVICE_RESOURCES.items():
        assert service_for_resource(resource) == service
    assert service_for_resource("/calendars/AAMkAGC123/events") == "calendar"
    assert service_for_resource("/tasklists/AQMkADAw/tasks") == "tasks"
    assert service_for_resource("/v1/contacts/") == "contacts"
    assert service_for_resource("/email/tracking") is None
    assert service_for_resource("/calendars/primary") is None
    assert service_for_resource("") is None and service_for_resource(None) is None


# --- reading --------------------------------------------------------------------------------


def test_account_credentials_never_shown(aurinko, make_client, caplog):
    url, control = aurinko
    account = control.add_account("ann@acme.test", provider="office365")
    client = make_client(account, sleep=lambda s: None)
    me = client.get_account()
    assert me["id"] == account["id"] and me["tokenStatus"] == "active"
    assert account["accessToken"] not in repr(client)
    app = AurinkoClient.for_app(url, "sandbox-client", "sandbox-secret", account["id"])
    assert "sandbox-secret" not in repr(app)
    control.fault("/v1/account", status=500, count=1)
    with caplog.at_level(logging.DEBUG):
        client.get_account()
        with pytest.raises(NotFoundError) as err:
            client.get_message("missing")
    assert "retrying" in caplog.text
    assert account["accessToken"] not in caplog.text
    assert account["accessToken"] not in str(err.value)


def test_for_app_acts_on_one_account(aurinko, coordination_db):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    client = AurinkoClient.for_app(url, "sandbox-client", "sandbox-secret", account["id"])
    assert client.app_key == "sandbox-client"
    assert client.get_account()["email"] == "ann@acme.test"
    wrong = AurinkoClient.for_app(url, "sandbox-client", "nope", account["id"])
    with pytest.raises(AuthError):
        wrong.get_account()
    assert (
        AurinkoClient.for_app(
            url + "/v1", "sandbox-client", "sandbox-secret", account["id"]
        ).get_account()["id"]
        == account["id"]
    )


def test_delta_pages_follow_pages_and_delta_tokens(aurinko, make_client):
    url, control = aurinko
    control.settings(pageSize=3)
    account = control.add_account("ann@acme.test")
    client = make_client(account)
    ids = [
        control.create(account["id"], "contacts", {"name": {"givenName": f"P{i}"}})["id"]
        for i in range(7)
    ]
    tokens = client.start_sync("contacts")
    pages, records = drain(client, "contacts", "updated", tokens.updated_token)
    assert all(isinstance(p, DeltaPage) for p in pages)
    assert [len(p.records) for p in pages] == [3, 3, 1]
    assert [p.next_delta_token is not None for p in pages] == [False, False, True]
    assert [p.next_page_token is not None for p in pages] == [True, True, False]
    assert [r["id"] for r in records] == ids
    updated_token = pages[-1].next_delta_token
    dpages, _ = drain(client, "contacts", "deleted", tokens.deleted_token)
    deleted_token = dpages[-1].next_delta_token

    # Changes after the stored token: one record changed twice, one new, one deleted.
    control.update(account["id"], "contacts", ids[2], {"notes": "first"})
    contact = client.get_contact(ids[2])
    client.update_contact(ids[2], {"notes": "second"}, etag=contact["etag"])
    new = client.create_contact({"name": {"givenName": "New"}})
    client.delete_contact(ids[4])
    pages, records = drain(client, "contacts", "updated", updated_token)
    assert [r["id"] for r in records] == [ids[2], new["id"]]
    assert records[0]["notes"] == "second"
    pages, records = drain(client, "contacts", "deleted", deleted_token)
    assert [r["id"] for r in records] == [ids[4]]
    # The generator is lazy: a caller that stops early never asks for the next page.
    control.reset_stats()
    first = next(iter(client.delta_pages("contacts", "updated", tokens.updated_token)))
    assert first.next_page_token and control.count("contacts.sync.updated") == 1


def test_email_sync_and_body_loading_for_imap(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("eve@acme.test", provider="imap")
    client = make_client(account)
    deliver(control, "dana@customer.test", "eve@acme.test", body="<p>Quote</p>")
    tokens = client.start_sync("email", days_within=30, body_type="html")
    _, records = drain(client, "email", "updated", tokens.updated_token)
    (msg,) = records
    assert "body" not in msg and "body" in msg["omitted"]
    full = client.get_message(msg["id"])
    assert full["body"] == "<p>Quote</p>"
    assert client.get_message(msg["id"], body_type="text")["body"] == "Quote"


def test_calendar_and_tasks_sync(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    client = make_client(account)
    control.create(account["id"], "events", EVENT)
    control.create(
        account["id"],
        "events",
        {
            **EVENT,
            "subject": "Far away",
            "start": {"dateTime": "2040-01-01T09:00:00Z"},
            "end": {"dateTime": "2040-01-01T10:00:00Z"},
        },
    )
    tokens = client.start_sync(
        "calendar", time_min="2030-01-01T00:00:00Z", time_max="2031-01-01T00:00:00Z"
    )
    _, events = drain(client, "calendar", "updated", tokens.updated_token)
    assert [e["subject"] for e in events] == ["Kick-off"]
    (default,) = client.list_task_lists()
    control.create(
        account["id"],
        "tasks",
        {"title": "old", "status": "completed", "completed": "2020-01-01T00:00:00Z"},
    )
    control.create(account["id"], "tasks", {"title": "open"})
    from datetime import date

    tokens = client.start_sync(
        "tasks", task_list_id=default["id"], skip_completed_before=date(2025, 1, 1)
    )
    _, tasks = drain(client, "tasks", "updated", tokens.updated_token, task_list_id=default["id"])
    assert [t["title"] for t in tasks] == ["open"]
    # the default calendar window (last 30 / next 180 days) is accepted as is
    assert client.start_sync("calendar").updated_token


def test_start_sync_polls_until_ready(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("ann@acme.test", notReadyStarts={"email": 2})
    sleeps: list[float] = []
    client = make_client(account, sleep=sleeps.append)
    tokens = client.start_sync("email", poll_delay=0.5)
    assert tokens.updated_token and tokens.deleted_token
    assert sleeps == [0.5, 0.5]
    assert control.count("email.sync.start") == 3

    control.account_settings(account["id"], notReadyStarts={"email": 5})
    with pytest.raises(TransientError) as err:
        client.start_sync("email", max_polls=3, poll_delay=0.25)
    assert err.value.retry_after == 0.25
    assert control.count("email.sync.start") == 6


@pytest.mark.parametrize("mode,status", [("410", 410), ("400", 400)])
def test_dead_sync_tokens_raise_sync_token_expired(aurinko, make_client, mode, status):
    url, control = aurinko
    control.settings(pageSize=1)
    account = control.add_account("ann@acme.test")
    client = make_client(account)
    for _ in range(3):
        deliver(control, "dana@customer.test", "ann@acme.test")
    tokens = client.start_sync("email")
    pages = client.delta_pages("email", "updated", tokens.updated_token)
    next(pages)
    control.expire_tokens(account["id"], mode)
    with pytest.raises(SyncTokenExpired) as err:
        next(pages)  # the page token died mid-run
    assert err.value.status == status and isinstance(err.value, FinalError)
    with pytest.raises(SyncTokenExpired):
        list(client.delta_pages("email", "deleted", tokens.deleted_token))
    assert control.count("email.sync.deleted") == 1  # final: not retried
    fresh = client.start_sync("email")
    _, records = drain(client, "email", "updated", fresh.updated_token)
    assert len(records) == 3


# --- retries ----------------------------------------------------------------------------------


def test_429_retry_after_is_honoured(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    sleeps: list[float] = []
    client = make_client(account, sleep=sleeps.append)
    copies = deliver(control, "dana@customer.test", "ann@acme.test")["copies"]
    message_id = copies[str(account["id"])]
    control.fault("/v1/email/messages/", status=429, count=2, retry_after=2)
    assert client.get_message(message_id)["id"] == message_id
    assert sleeps == [2.0, 2.0]
    assert control.count("message.get", account["id"]) == 3


def test_500_then_success(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    sleeps: list[float] = []
    client = make_client(account, sleep=sleeps.append)
    control.fault("/v1/email/sync", status=500, count=1, method="POST")
    assert client.start_sync("email").updated_token
    assert control.count("email.sync.start") == 2
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 0.05


def test_408_on_message_load_is_retried_after_retry_after(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("eve@acme.test", provider="imap", threadIdDelay=1, retryAfter=1)
    sleeps: list[float] = []
    client = make_client(account, sleep=sleeps.append)
    copies = deliver(control, "dana@customer.test", "eve@acme.test")["copies"]
    message_id = copies[str(account["id"])]
    assert client.get_message(message_id)["threadId"]
    assert sleeps == [1.0]
    assert control.count("message.get") == 2


def test_slow_response_times_out_and_is_retried(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    client = make_client(account, timeout=(2.0, 0.3))
    control.fault("/v1/account", delay=2.0, count=1)
    began = time.monotonic()
    assert client.get_account()["id"] == account["id"]
    assert 0.3 <= time.monotonic() - began < 1.8  # gave up on the slow answer
    assert control.count("account.get") == 2


def test_retries_exhausted_raise_transient_error(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    client = make_client(account, sleep=lambda s: None)
    control.fault("/v1/contacts/", status=503, count=None)
    with pytest.raises(TransientError) as err:
        client.get_contact("c1")
    assert err.value.status == 503
    assert control.count("contact.get") == 4  # FAST.attempts
    # A Retry-After longer than the policy allows is handed to the caller at once.
    control.clear_faults()
    control.fault("/v1/contacts/", status=429, count=None, retry_after=3600)
    with pytest.raises(TransientError) as err:
        client.get_contact("c1")
    assert err.value.retry_after == 3600 and control.count("contact.get") == 5


def test_connection_refused_is_transient(coordination_db):
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    client = AurinkoClient.for_account(
        dead, "t", policy=RetryPolicy(attempts=2, base_delay=0), timeout=(0.5, 0.5)
    )
    with pytest.raises(TransientError) as err:
        client.get_account()
    assert err.value.status is None


def test_404_is_not_retried(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    client = make_client(account)
    with pytest.raises(NotFoundError):
        client.get_message("nope")
    with pytest.raises(NotFoundError):
        client.get_event("primary", "nope")
    assert control.count("message.get") == 1 and control.count("event.get") == 1


def test_dead_account_token(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    client = make_client(account)
    control.set_token(account["id"], "dead")
    with pytest.raises(TokenDeadError) as err:
        client.start_sync("email")
    assert err.value.status == 401 and err.value.code == "token.dead"
    assert isinstance(err.value, AuthError)
    assert control.count("email.sync.start") == 1
    control.set_token(account["id"], "invalid")
    with pytest.raises(TokenDeadError):
        client.get_message("x")
    stranger = AurinkoClient.for_account(url, "unknown-token", policy=RetryPolicy(attempts=1))
    with pytest.raises(AuthError) as err:
        stranger.get_account()
    assert not isinstance(err.value, TokenDeadError)


def test_budget_timeout_becomes_transient(aurinko, make_client, monkeypatch):
    url, control = aurinko
    account = control.add_account("ann@acme.test")

    def exhausted(key: str, limit: int) -> None:
        raise TimeoutError(f"rate budget {key!r} stayed exhausted")

    monkeypatch.setattr(aurinko_module, "wait_for_budget", exhausted)
    with pytest.raises(TransientError) as err:
        make_client(account).get_account()
    assert err.value.retry_after == 1.0
    assert control.stats()["total"] == 0


# --- writing ----------------------------------------------------------------------------------


def test_event_crud_and_stale_etag(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    client = make_client(account)
    event = client.create_event("primary", EVENT)
    assert event["id"] and event["etag"] and event["iCalUid"]
    assert client.get_event("primary", event["id"])["subject"] == "Kick-off"
    moved = client.update_event("primary", event["id"], {"location": "Room 2"}, etag=event["etag"])
    assert moved["location"] == "Room 2" and moved["etag"] != event["etag"]
    with pytest.raises(PreconditionFailed) as err:
        client.update_event("primary", event["id"], {"location": "Lost"}, etag=event["etag"])
    assert err.value.status == 412
    assert control.count("event.update") == 2  # 412 is final
    # Without an etag the client reads the current one first (the API requires If-Match).
    latest = client.update_event("primary", event["id"], {"subject": "Renamed"})
    assert latest["subject"] == "Renamed" and latest["location"] == "Room 2"
    client.delete_event("primary", event["id"])
    with pytest.raises(NotFoundError):
        client.get_event("primary", event["id"])


def test_contact_and_task_crud(aurinko, make_client):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    client = make_client(account)
    contact = client.create_contact(
        {
            "name": {"givenName": "Sam", "familyName": "Black"},
            "emailAddresses": [{"address": "sam@customer.test"}],
        }
    )
    updated = client.update_contact(contact["id"], {"notes": "vip"}, etag=contact["etag"])
    assert updated["notes"] == "vip"
    with pytest.raises(PreconditionFailed):
        client.update_contact(contact["id"], {"notes": "x"}, etag=contact["etag"])
    assert client.update_contact(contact["id"], {"notes": "y"})["notes"] == "y"
    client.delete_contact(contact["id"])
    with pytest.raises(NotFoundError):
        client.get_contact(contact["id"])

    task = client.create_task("default", {"title": "Call Sam", "importance": "high"})
    assert task["status"] == "notStarted" and task["etag"]
    done = client.update_task("default", task["id"], {"status": "completed"}, etag=task["etag"])
    assert done["completed"]
    with pytest.raises(PreconditionFailed):
        client.update_task("default", task["id"], {"title": "x"}, etag=task["etag"])
    assert client.update_task("default", task["id"], {"title": "free"})["title"] == "free"
    assert client.get_task("default", task["id"])["title"] == "free"
    client.delete_task("default", task["id"])
    with pytest.raises(NotFoundError):
        client.get_task("default", task["id"])


# --- subscriptions and webhooks ---------------------------------------------------------------


def test_subscriptions_handshake_paging_and_signed_webhooks(aurinko, make_client, receiver):
    from brightsync.sandbox.aurinko import WebhookRecorder

    url, control = aurinko
    account = control.add_account("ann@acme.test")
    client = make_client(account)
    sub = client.create_subscription("/email/messages", receiver.url, ["withoutDrafts"])
    assert sub["active"] is True and isinstance(sub["id"], int)
    assert len(receiver.validations()) == 1

    with WebhookRecorder(SECRET, answer="wrong") as bad:
        with pytest.raises(FinalError) as err:
            client.create_subscription("/contacts", bad.url)
        assert err.value.status == 400
    assert control.count("subscription.create") == 2  # a 400 is not retried

    for resource in ("/contacts", "/calendars/primary/events", "/tasklists/default/tasks"):
        client.create_subscription(resource, receiver.url)
    control.reset_stats()
    subs = client.list_subscriptions(page_size=3)
    assert len(subs) == 4 and len({s["id"] for s in subs}) == 4
    assert control.count("subscriptions.list") == 2  # offset paging: 3 + 1
    assert client.get_subscription(sub["id"])["resource"] == "/email/messages"

    copies = deliver(control, "dana@customer.test", "ann@acme.test")["copies"]
    message_id = copies[str(account["id"])]
    got = receiver.wait(lambda n: len(n) >= 1)
    (note,) = got
    headers = note["headers"]
    assert (
        signing.verify(
            SECRET,
            headers["X-Aurinko-Request-Timestamp"],
            headers["X-Aurinko-Signature"],
            note["body"],
        )
        is None
    )
    assert (
        signing.verify(
            "another-secret",
            headers["X-Aurinko-Request-Timestamp"],
            headers["X-Aurinko-Signature"],
            note["body"],
        )
        is not None
    )
    assert note["json"] == {
        "subscription": sub["id"],
        "resource": "/email/messages",
        "accountId": account["id"],
        "payloads": [{"id": message_id, "changeType": "created"}],
    }
    assert service_for_resource(note["json"]["resource"]) == "email"

    client.delete_subscription(sub["id"])
    with pytest.raises(NotFoundError):
        client.get_subscription(sub["id"])
    assert len(client.list_subscriptions()) == 3


# --- conformance of the client's requests ---------------------------------------------------

# A CRM's records as BrightSync reads them, with the optional parts left out.
CRM_CONTACT = {
    "id": "c1",
    "firstName": "Sam",
    "lastName": "Black",
    "emailAddresses": ["sam@x.test"],
}
CRM_TASK = {"id": "t1", "subject": "Call Sam", "status": "notStarted", "priority": "high"}
CRM_EVENT = {
    "id": "e1",
    "subject": "Review",
    "startTime": "2030-03-02T15:00:00+00:00",
    "endTime": "2030-03-02T16:00:00+00:00",
    "attendees": [{"emailAddress": "dana@customer.test", "status": "accepted"}],
}


def _product_writes(client: AurinkoClient, list_id: str, receiver_url: str) -> None:
    """The bodies BrightSync builds (the domains' payload builders), sent by the client:
    creates from CRM records without notes, phones or due date, and updates that clear."""
    from brightsync.calendar.mapping import crm_fields, mailbox_payload
    from brightsync.contacts import rules as contact_rules
    from brightsync.tasks import rules as task_rules

    fields = contact_rules.from_crm(CRM_CONTACT)
    assert fields["notes"] == "" and fields["phones"] == []
    contact = client.create_contact(contact_rules.to_mailbox(fields))
    client.update_contact(contact["id"], contact_rules.mailbox_patch({"notes": "vip"}, contact))
    current = client.get_contact(contact["id"])
    cleared = {"notes": "", "phones": [], "jobTitle": "", "company": "", "firstName": ""}
    client.update_contact(contact["id"], contact_rules.mailbox_patch(cleared, current))
    assert contact_rules.from_mailbox(client.get_contact(contact["id"])) == {
        **fields,
        "firstName": "",
    }
    client.delete_contact(contact["id"])

    statuses, utc = task_rules.StatusMap(), task_rules.zone("UTC")
    fields = task_rules.from_crm(CRM_TASK, statuses, utc)
    assert fields["due"] is None and fields["notes"] == ""
    task = client.create_task(list_id, task_rules.to_mailbox(fields))
    patch = {"notes": "bring the contract", "due": "2030-04-01"}
    task = client.update_task(list_id, task["id"], task_rules.mailbox_patch(patch))
    patch = {"notes": "", "due": None, "status": "completed"}
    client.update_task(list_id, task["id"], task_rules.mailbox_patch(patch), etag=task["etag"])
    done = task_rules.from_mailbox(client.get_task(list_id, task["id"]))
    assert done["notes"] == "" and done["status"] == "completed"
    client.delete_task(list_id, task["id"])

    fields = crm_fields(CRM_EVENT)
    event = client.create_event(
        "primary", mailbox_payload(fields, timezone="UTC", organizer="ann@acme.test")
    )
    patch = {"description": "", "location": "", "attendees": []}
    client.update_event("primary", event["id"], mailbox_payload(patch, timezone="Europe/Paris"))
    client.delete_event("primary", event["id"])

    sub = client.create_subscription("/contacts", receiver_url)
    client.delete_subscription(sub["id"])


def test_requests_follow_the_openapi_document(aurinko, make_client, receiver, openapi):
    """Every request the client sends, with the bodies the product builds, is a documented
    operation with declared query parameters and a body of the documented shape (no null
    where the document wants a string or an array, no undocumented property)."""
    url, control = aurinko
    control.settings(pageSize=1)
    account = control.add_account("ann@acme.test")
    client = make_client(account)
    for _ in range(2):
        deliver(control, "dana@customer.test", "ann@acme.test")
    client.get_account()
    for service in ("email", "calendar", "contacts", "tasks"):
        tokens = client.start_sync(service, days_within=7 if service == "email" else None)
        for kind, token in (("updated", tokens.updated_token), ("deleted", tokens.deleted_token)):
            records = [r for p in client.delta_pages(service, kind, token) for r in p.records]
            if service == "email" and kind == "updated":
                client.get_message(records[0]["id"], body_type="text")
    event = client.create_event("primary", EVENT, notify_attendees=True)
    client.update_event("primary", event["id"], {"subject": "x"}, etag=event["etag"])
    client.update_event("primary", event["id"], {"subject": "y"})
    client.delete_event("primary", event["id"])
    contact = client.create_contact({"name": {"givenName": "Sam"}})
    client.update_contact(contact["id"], {"notes": "n"})
    client.delete_contact(contact["id"])
    lists = client.list_task_lists()
    task = client.create_task(lists[0]["id"], {"title": "t"})
    client.update_task(lists[0]["id"], task["id"], {"status": "completed"}, etag=task["etag"])
    client.get_task(lists[0]["id"], task["id"])
    client.delete_task(lists[0]["id"], task["id"])
    sub = client.create_subscription("/contacts", receiver.url, ["withoutDrafts"])
    client.list_subscriptions()
    client.get_subscription(sub["id"])
    client.delete_subscription(sub["id"])
    _product_writes(client, lists[0]["id"], receiver.url)

    seen, bodies = set(), 0
    for req in control.requests():
        seen.add(openapi.check_request(req["method"], req["path"], req["query"], req["json"]))
        bodies += req["json"] is not None
    assert len(seen) >= 25 and bodies >= 17


# --- the shared rate budget across processes --------------------------------------------------


def _rate_worker(env, base_url, token, app_key, limit, count, ready, go, results):
    """One worker process firing `count` requests through AurinkoClient."""
    os.environ.update(env)
    from brightsync import coordination, db
    from brightsync.config import reset_settings

    reset_settings()
    coordination.reset_coordinator()
    db.reset_engine()
    try:
        client = AurinkoClient.for_account(
            base_url,
            token,
            app_key=app_key,
            rate_limit=limit,
            policy=RetryPolicy(attempts=1),
            session=requests.Session(),
        )
        coordination.get_coordinator()  # connect before the start signal
        client.session.get(base_url + "/_control/faults", timeout=10)  # warm the connection
        ready.put(os.getpid())
        if not go.wait(60):
            raise RuntimeError("no start signal")
        for _ in range(count):
            client.get_account()
        results.put(("ok", count))
    except BaseException as exc:  # report, never hang the parent
        results.put(("error", repr(exc)))


def _run_two_workers(
    aurinko, env: dict[str, str], limit: int = 20, count: int = 25, app_key: str | None = None
):
    url, control = aurinko
    account = control.add_account("ann@acme.test")
    app_key = app_key or f"rate-{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(
            target=_rate_worker,
            args=(env, url, account["accessToken"], app_key, limit, count, ready, go, results),
            daemon=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=60)
        control.reset_stats()
        time.sleep(math.ceil(time.time()) - time.time() + 0.01)  # start right after a second
        first_window = int(time.time())  # no request is granted before this second
        go.set()
        outcomes = [results.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    assert outcomes == [("ok", count), ("ok", count)], outcomes
    per_second = control.stats()["bySecond"]
    assert sum(per_second.values()) == 2 * count
    assert_within_budget(per_second, first_window, limit)
    assert len(per_second) >= math.ceil(2 * count / limit), per_second
    return app_key


def assert_within_budget(per_second: dict[str, int], first_window: int, limit: int) -> None:
    """The simulator saw no more than one shared budget allows, however late requests arrived.

    The budget grants `limit` requests per clock second; the simulator counts a request in the
    second it arrives, which on a loaded machine can be the next one (a burst granted late in
    second N lands in N+1 beside N+1's own). Arrival never precedes the grant, so by the end of
    the j-th second at most j * limit requests can have arrived: two processes each spending
    their own budget would pass 2 * limit in the first second.
    """
    seconds = [int(second) for second in per_second]
    assert min(seconds) >= first_window, (first_window, per_second)
    arrived = 0
    last = max(seconds)
    for j, second in enumerate(range(first_window, last + 1), start=1):
        arrived += per_second.get(str(second), 0)
        assert arrived <= j * limit, (first_window, per_second)


def _redis_url() -> str:
    base = os.environ.get("BRIGHTSYNC_TEST_REDIS", "redis://127.0.0.1:6379/0")
    return base.rsplit("/", 1)[0] + "/11"


def test_rate_budget_shared_by_two_processes_via_redis(aurinko, tmp_path, monkeypatch):
    import redis

    from tests.clients.conftest import apply_env, reset_caches, sqlite_env

    url = _redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis unavailable at {url}: {exc}")
    env = {**sqlite_env(tmp_path), "REDIS_URL": url}
    apply_env(monkeypatch, env)
    app_key = f"rate-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(url)
    # Budget keys live two seconds past their window: look for them while the run goes on,
    # not after it (a slow machine can spend that long collecting the workers).
    seen: set[bytes] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            seen.update(client.scan_iter(f"brightsync:rate:aurinko:{app_key}:*"))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        _run_two_workers(aurinko, env, app_key=app_key)
    finally:
        done.set()
        watcher.join(5)
        reset_caches()
    assert seen, "the budget was not kept in Redis"
    client.delete(*seen)  # only this test's keys: other runs may share the db


def test_rate_budget_shared_by_two_processes_via_database(aurinko, tmp_path, monkeypatch):
    from sqlalchemy import select

    from brightsync.db import get_engine, session_scope
    from brightsync.models import Base, RateWindow
    from tests.clients.conftest import apply_env, reset_caches, sqlite_env

    env = sqlite_env(tmp_path)
    apply_env(monkeypatch, env)
    try:
        Base.metadata.create_all(get_engine())
        app_key = _run_two_workers(aurinko, env)
        with session_scope() as s:
            keys = set(s.scalars(select(RateWindow.key)))
        assert keys == {f"aurinko:{app_key}"}
    finally:
        reset_caches()
