"""Lost answers to CRM creates on real workers, both backends: exactly one record each.

The reference CRM stores the email, contact or company and then loses the answer — a 502,
or no answer before the worker's read timeout. The worker never repeats the create blindly:
it looks for what the lost request made and adopts it, at once or on its next attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from brightsync.sync import creates
from tests.conftest import Stack, WorkerProcess, wait_for
from tests.support.helpers import (
    crm_stats,
    decision,
    make_org,
    make_user,
    person,
    send,
    wait_decided,
)

READ_TIMEOUT = 2  # seconds the worker waits for a CRM answer (BRIGHTSYNC_CRM_TIMEOUT)


@contextmanager
def worker_with_short_crm_timeout(stack: Stack) -> Iterator[WorkerProcess]:
    """The stack's worker replaced by one that gives up on a CRM answer after 2 s."""
    assert stack.worker is not None
    stack.worker.stop()
    env = {**stack.env, "BRIGHTSYNC_CRM_TIMEOUT": str(READ_TIMEOUT)}
    worker = WorkerProcess(env, stack.backend.workdir, "short-timeout")
    try:
        yield worker
    finally:
        worker.stop()
        stack.worker = WorkerProcess(stack.env, stack.backend.workdir, "main")


def fault(stack: Stack, path: str, status: int | None, **spec) -> None:
    r = stack.crm("POST", "/_control/faults", json={"path": path, "status": status, **spec})
    r.raise_for_status()


def records(stack: Stack, kind: str) -> list[dict]:
    return stack.crm("GET", f"/_control/records/{kind}").json()


def lose_every_create_answer(stack: Stack, **how) -> None:
    for kind in ("companies", "contacts", "emails"):
        fault(stack, f"/api/v1/{kind}", method="POST", afterWrite=True, **how)


def test_creates_whose_answers_are_lost_are_found_not_made_twice(clean_stack):
    stack = clean_stack
    org_id = make_org(stack, {"email": {"contactCreation": "sent"}})
    make_user(stack, org_id, "alice@acme.com")
    with worker_with_short_crm_timeout(stack):
        # 1. Stored, then answered 502. The email's first look for itself fails too (a 429
        #    too long to wait for), so it is deferred and its next attempt finds it.
        lose_every_create_answer(stack, status=502)
        fault(stack, "/api/v1/emails", 429, method="GET", retryAfter=600)
        first = send(stack, "alice@acme.com", [person("frank@newco.co.uk", "Frank New")], "Hi")
        logged = wait_decided(stack, org_id, first["internetMessageId"], timeout=90)

        # 2. Stored, then no answer at all before the worker's read timeout.
        lose_every_create_answer(stack, status=None, delaySeconds=READ_TIMEOUT + 2)
        second = send(stack, "alice@acme.com", [person("gina@oldco.co.uk", "Gina Old")], "Yo")
        logged_too = wait_decided(stack, org_id, second["internetMessageId"], timeout=90)

    stats = crm_stats(stack)
    ops = stats["byOperation"]
    # Each create was sent once and never repeated...
    assert (ops["companies.create"], ops["contacts.create"], ops["emails.create"]) == (2, 2, 2)
    # ...and those six creates were the only writes: discovering what the CRM offers wrote
    # nothing (GET and OPTIONS only).
    assert stats["byMethod"]["POST"] == 6
    assert set(stats["byMethod"]) <= {"GET", "OPTIONS", "POST"}, stats["byMethod"]
    # ...and each made exactly one record, the one BrightSync then used.
    companies = {c["domains"][0]: c for c in records(stack, "companies")}
    contacts = {c["emailAddresses"][0]: c for c in records(stack, "contacts")}
    emails = records(stack, "emails")
    assert sorted(companies) == ["newco.co.uk", "oldco.co.uk"]
    assert sorted(contacts) == ["frank@newco.co.uk", "gina@oldco.co.uk"]
    assert contacts["frank@newco.co.uk"]["companyId"] == companies["newco.co.uk"]["id"]
    assert contacts["gina@oldco.co.uk"]["companyId"] == companies["oldco.co.uk"]["id"]
    assert sorted(e["rfc822MsgId"] for e in emails) == sorted(
        [first["internetMessageId"], second["internetMessageId"]]
    )
    assert logged["crmEmailId"] != logged_too["crmEmailId"]
    assert {logged["crmEmailId"], logged_too["crmEmailId"]} == {e["id"] for e in emails}
    assert logged["relatedTo"]["contacts"] == [contacts["frank@newco.co.uk"]["id"]]
    assert logged_too["relatedTo"]["contacts"] == [contacts["gina@oldco.co.uk"]["id"]]
    # The intents of the contact and company creates record what was adopted.
    for kind, key, record in (
        ("company", "newco.co.uk", companies["newco.co.uk"]),
        ("contact", "gina@oldco.co.uk", contacts["gina@oldco.co.uk"]),
    ):
        intent = creates.intent_state(org_id, kind, key)
        assert intent["state"] == "created" and intent["remoteId"] == record["id"], intent
    # The first email needed a second attempt; that attempt found the record, sent nothing.
    wait_for(lambda: decision(stack, org_id, first["internetMessageId"])["attempts"] >= 2)
