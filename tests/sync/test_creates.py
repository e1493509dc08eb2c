"""Safe creates against the reference CRM over real HTTP, with the intent table in a real
database: lost answers (502 after the write, no answer at all) never make a second record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from brightsync.clients.crm import CrmClient
from brightsync.clients.http import FinalError, MaybeCreated, RetryPolicy, TransientError
from brightsync.sandbox.crm.harness import CrmSandbox
from brightsync.sync import creates
from tests.factories import make_org

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, max_retry_after=5.0)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[CrmSandbox]:
    with CrmSandbox() as crm:
        yield crm


@pytest.fixture
def crm(sandbox: CrmSandbox, unit_env) -> CrmSandbox:
    sandbox.reset()
    return sandbox


def client(sandbox: CrmSandbox, read_timeout: float = 5.0) -> CrmClient:
    return CrmClient(
        sandbox.url,
        "bearer",
        {"token": sandbox.token},
        rate_key=f"crm:test:{uuid.uuid4().hex}",
        rate_limit=10_000,
        policy=FAST,
        timeout=(2.0, read_timeout),
        sleep=lambda s: None,
    )


def contact_by(c: CrmClient, address: str):
    """The required lookup, past the client's cache: what a lost create may have made."""

    def lookup():
        c.forget([address])
        found = c.contacts_by_email([address])[address]
        return found[0] if found else None

    return lookup


def person(address: str) -> dict:
    return {"firstName": "Dana", "lastName": "Lost", "emailAddresses": [address]}


def posts(crm: CrmSandbox) -> int:
    return crm.stats()["byMethod"].get("POST", 0)


# ------------------------------------------------------------------ attempt_create (no table)


def test_502_after_the_write_is_found_not_created_again(crm):
    c = client(crm)
    crm.fault("/api/v1/contacts", 502, method="POST", after_write=True)
    address = "dana@lost.example"
    result = creates.attempt_create(
        lambda key: c.create_contact(person(address), idempotency_key=key),
        contact_by(c, address),
        key=creates.idempotency_key("contact", 1, address),
        look_first=False,
    )
    assert result.adopted
    assert [r["id"] for r in crm.records("contacts")] == [result.remote_id]
    assert posts(crm) == 1  # the HTTP layer did not repeat the POST


def test_an_answer_that_never_comes_is_found_not_created_again(crm):
    c = client(crm, read_timeout=0.5)
    crm.fault("/api/v1/companies", None, method="POST", after_write=True, delay=3)
    payload = {"name": "Hung Ltd", "domains": ["hung.example"]}

    def lookup():
        found = c.lookup_companies(domain="hung.example", refresh=True)
        return found[0] if found else None

    result = creates.attempt_create(
        lambda key: c.create_company(payload, idempotency_key=key),
        lookup,
        key="k-hang",
        look_first=False,
    )
    assert result.adopted
    assert len(crm.records("companies")) == 1
    assert posts(crm) == 1


def test_without_a_lookup_the_repeat_relies_on_the_idempotency_key(crm):
    c = client(crm)
    crm.fault("/api/v1/tasks", 504, method="POST", after_write=True)
    task = {"subject": "Call back"}
    key = creates.idempotency_key("task", 1, "mailbox-task-1")
    with pytest.raises(MaybeCreated) as lost:
        creates.attempt_create(
            lambda k: c.create_task(task, idempotency_key=k), None, key=key, look_first=False
        )
    assert lost.value.ambiguous and lost.value.status == 504
    again = creates.attempt_create(
        lambda k: c.create_task(task, idempotency_key=k), None, key=key, look_first=True
    )
    assert [r["id"] for r in crm.records("tasks")] == [again.remote_id]
    assert posts(crm) == 2  # sent twice, stored once: the reference CRM honours the key


def test_a_post_refused_before_processing_is_retried(crm):
    c = client(crm)
    crm.fault("/api/v1/contacts", 429, method="POST", retry_after=0)
    made = creates.attempt_create(
        lambda key: c.create_contact(person("r@x.example"), idempotency_key=key),
        None,
        key="k-429",
        look_first=False,
    )
    assert not made.adopted and posts(crm) == 2
    assert len(crm.records("contacts")) == 1


# ------------------------------------------------------------------ create_once (the table)


def test_create_once_records_the_intent_and_adopts_after_a_lost_answer(crm):
    org = make_org(crm_url=crm.url)
    c = client(crm)
    address = "eve@lost.example"
    crm.fault("/api/v1/contacts", 502, method="POST", after_write=True)
    first = creates.create_once(
        org,
        "contact",
        address,
        lambda key: c.create_contact(person(address), idempotency_key=key),
        contact_by(c, address),
    )
    assert first.adopted
    state = creates.intent_state(org, "contact", address)
    assert state["state"] == "created" and state["remoteId"] == first.remote_id
    assert state["attempts"] == 1
    # Asked again (a repeated task): the record is found, nothing is sent.
    again = creates.create_once(
        org,
        "contact",
        address,
        lambda key: c.create_contact(person(address), idempotency_key=key),
        contact_by(c, address),
    )
    assert again.remote_id == first.remote_id and again.adopted
    assert len(crm.records("contacts")) == 1 and posts(crm) == 1


def test_maybe_created_then_the_next_attempt_looks_first(crm):
    org = make_org(crm_url=crm.url)
    c = client(crm)
    address = "finn@lost.example"
    create = lambda key: c.create_contact(person(address), idempotency_key=key)  # noqa: E731
    # The answer is lost, and so is the immediate look (the CRM keeps failing lookups).
    crm.fault("/api/v1/contacts", 502, method="POST", after_write=True)
    crm.fault("/api/v1/contacts/lookup", 503, count=FAST.attempts)
    with pytest.raises(MaybeCreated):
        creates.create_once(org, "contact", address, create, contact_by(c, address))
    assert creates.intent_state(org, "contact", address)["state"] == "maybe"
    result = creates.create_once(org, "contact", address, create, contact_by(c, address))
    assert result.adopted
    assert len(crm.records("contacts")) == 1 and posts(crm) == 1
    assert creates.intent_state(org, "contact", address)["state"] == "created"


def test_a_worker_that_died_while_sending_is_looked_after(crm):
    org = make_org(crm_url=crm.url)
    c = client(crm)
    address = "gus@lost.example"
    # The steps of create_once up to the request, then the process "dies" (never settles).
    taken = creates._take(org, "contact", address, None, timedelta(0))
    c.create_contact(person(address), idempotency_key=taken.idempotency_key)
    assert creates.intent_state(org, "contact", address)["state"] == "sending"
    result = creates.create_once(
        org,
        "contact",
        address,
        lambda key: c.create_contact(person(address), idempotency_key=key),
        contact_by(c, address),
    )
    assert result.adopted and len(crm.records("contacts")) == 1


def test_a_create_in_flight_elsewhere_is_not_sent_twice(crm):
    org = make_org(crm_url=crm.url)
    c = client(crm)
    creates._take(org, "company", "busy.example", None, timedelta(minutes=1))
    with pytest.raises(creates.CreateBusy) as busy:
        creates.create_once(org, "company", "busy.example", lambda k: c.create_company({}))
    assert isinstance(busy.value, TransientError) and posts(crm) == 0


def test_a_refused_create_is_recorded_and_the_next_one_gets_a_new_key(crm):
    org = make_org(crm_url=crm.url)
    c = client(crm)
    with pytest.raises(FinalError):
        creates.create_once(
            org, "company", "bad.example", lambda k: c.create_company({}, idempotency_key=k)
        )
    refused = creates.intent_state(org, "company", "bad.example")
    assert refused["state"] == "failed" and "name" in refused["lastError"]
    made = creates.create_once(
        org,
        "company",
        "bad.example",
        lambda k: c.create_company({"name": "Bad", "domains": ["bad.example"]}, idempotency_key=k),
    )
    fixed = creates.intent_state(org, "company", "bad.example")
    assert fixed["state"] == "created" and fixed["remoteId"] == made.remote_id
    assert fixed["idempotencyKey"] != refused["idempotencyKey"]


def test_without_a_lookup_a_created_intent_answers_with_its_record_id(crm):
    org = make_org(crm_url=crm.url)
    c = client(crm)
    event = {
        "subject": "Review",
        "startTime": "2030-01-01T10:00:00+00:00",
        "endTime": "2030-01-01T11:00:00+00:00",
    }
    create = lambda k: c.create_event(event, idempotency_key=k)  # noqa: E731
    made = creates.create_once(org, "event", "uid-1", create)
    again = creates.create_once(org, "event", "uid-1", create)
    assert again.remote_id == made.remote_id and again.adopted
    assert posts(crm) == 1
    creates.forget(org, "event", "uid-1")
    assert creates.create_once(org, "event", "uid-1", create).remote_id != made.remote_id


def test_a_5xx_that_made_nothing_is_looked_for_then_sent_again(crm):
    c = client(crm)
    crm.fault("/api/v1/emails", 503, method="POST", count=2)  # refused before storing
    pauses: list[float] = []
    msg = "<again@x.example>"
    made = creates.attempt_create(
        lambda key: c.create_email({"subject": "x", "rfc822MsgId": msg}, idempotency_key=key),
        lambda: next(iter(c.find_emails(msg)), None),
        key="k-again",
        look_first=False,
        sleep=pauses.append,
    )
    assert not made.adopted and pauses == [0.5, 1.0]
    assert posts(crm) == 3 and len(crm.records("emails")) == 1
    ops = crm.ops()
    assert ops["emails.lookup"] == 2  # looked before each repeat


def test_an_attempt_that_lost_one_answer_stays_maybe_whatever_comes_next(crm):
    org = make_org(crm_url=crm.url)
    c = client(crm)
    address = "hal@lost.example"
    crm.fault("/api/v1/contacts", 502, method="POST")  # lost (nothing stored, as it happens)
    crm.fault("/api/v1/contacts", 429, method="POST", count=FAST.attempts, retry_after=0)
    with pytest.raises(MaybeCreated):
        creates.create_once(
            org,
            "contact",
            address,
            lambda key: c.create_contact(person(address), idempotency_key=key),
            contact_by(c, address),
        )
    assert creates.intent_state(org, "contact", address)["state"] == "maybe"
    assert crm.records("contacts") == []


def test_two_workers_creating_the_same_record_at_once_make_one(crm):
    import threading

    org = make_org(crm_url=crm.url)
    address = "ivy@race.example"
    # The first create is slow to answer, so the second caller arrives while it is in flight.
    crm.fault("/api/v1/contacts", None, method="POST", after_write=True, delay=1)
    outcomes: list[object] = []

    def worker() -> None:
        c = client(crm)
        try:
            made = creates.create_once(
                org,
                "contact",
                address,
                lambda key: c.create_contact(person(address), idempotency_key=key),
                contact_by(c, address),
            )
            outcomes.append(made.remote_id)
        except creates.CreateBusy as busy:
            outcomes.append(busy)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    made = [o for o in outcomes if isinstance(o, str)]
    busy = [o for o in outcomes if isinstance(o, creates.CreateBusy)]
    assert len(made) == 1 and len(busy) == 1, outcomes
    assert [r["id"] for r in crm.records("contacts")] == made and posts(crm) == 1
