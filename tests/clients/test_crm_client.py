"""CrmClient against the reference CRM over real HTTP (no mocks)."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from brightsync import config, coordination, crypto
from brightsync.clients.capabilities import Capabilities
from brightsync.clients.crm import CrmClient
from brightsync.clients.crm_http import ContractError
from brightsync.clients.http import (
    AuthError,
    FinalError,
    MaybeCreated,
    NotFoundError,
    RetryPolicy,
    TransientError,
)
from brightsync.models.org import Organisation
from brightsync.sandbox.crm.breakages import MINIMAL
from brightsync.sandbox.crm.harness import CrmSandbox

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, max_retry_after=5.0)
MINIMAL_CAPS = {"email_create", "email_get", "contact_lookup", "contact_lookup_list", "contact_get"}
# No probe can prove `showDeleted` (a connector ignoring it answers 200 all the same): these
# are learned from a deleted entry in an answer, or set by the org.
UNPROVABLE = ("contacts_show_deleted", "events_show_deleted", "tasks_show_deleted")
FULL = Capabilities(**{**Capabilities.everything().as_dict(), **dict.fromkeys(UNPROVABLE, False)})


@pytest.fixture(autouse=True)
def redis_budget(monkeypatch):
    """The rate budget lives in a Redis test database."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/12")
    config.reset_settings()
    coordination.reset_coordinator()
    yield
    monkeypatch.undo()
    config.reset_settings()
    coordination.reset_coordinator()


@pytest.fixture(scope="module")
def crm():
    with CrmSandbox() as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _clean(request):
    if "crm" in request.fixturenames:
        request.getfixturevalue("crm").reset()


def make_client(sandbox: CrmSandbox, **kwargs) -> tuple[CrmClient, list[float]]:
    sleeps: list[float] = []
    kwargs.setdefault("rate_limit", 10_000)
    kwargs.setdefault("policy", FAST)
    client = CrmClient(
        sandbox.url,
        "bearer",
        {"token": sandbox.token},
        rate_key=f"crm:test:{uuid.uuid4().hex}",
        sleep=sleeps.append,
        **kwargs,
    )
    return client, sleeps


@pytest.fixture
def client(crm):
    return make_client(crm)[0]


def ops(sandbox: CrmSandbox) -> dict[str, int]:
    return sandbox.ops()


# ------------------------------------------------------------------ construction, auth


def test_auth_type_and_secret_are_checked():
    with pytest.raises(ValueError):
        CrmClient("http://x", "oauth", {}, rate_key="k")
    with pytest.raises(ValueError):
        CrmClient("http://x", "bearer", {}, rate_key="k")
    with pytest.raises(ValueError):
        CrmClient("http://x", "basic", {"username": "u"}, rate_key="k")


def test_repr_hides_the_secret(client):
    assert "sandbox-crm-token" not in repr(client)
    assert "sandbox-crm-token" not in str(client)


def test_wrong_token_is_an_auth_error_without_retries(crm):
    client = CrmClient(crm.url, "bearer", {"token": "nope"}, rate_key="crm:t", policy=FAST)
    with pytest.raises(AuthError) as err:
        client.users_me()
    assert err.value.status == 401
    assert ops(crm)["users.me"] == 1


def test_basic_auth():
    with CrmSandbox(token=None, basic=("api", "s3cret")) as crm:
        good = CrmClient(
            crm.url, "basic", {"username": "api", "password": "s3cret"}, rate_key="crm:b"
        )
        assert good.users_me()["email"]
        bad = CrmClient(crm.url, "basic", {"username": "api", "password": "x"}, rate_key="crm:b")
        with pytest.raises(AuthError):
            bad.users_me()


def test_for_org_decrypts_and_applies_overrides(crm, monkeypatch):
    monkeypatch.setenv("BRIGHTSYNC_ENCRYPTION_KEY", Fernet.generate_key().decode())
    config.reset_settings()
    crypto.reset_keys()
    try:
        org = Organisation(
            id=42,
            name="Acme",
            crm_base_url=crm.url,
            crm_auth_type="bearer",
            crm_secret_enc=crypto.encrypt_json({"token": crm.token}),
            settings={"crm": {"capabilities": {"email_update": False, "bogus": True}}},
        )
        client = CrmClient.for_org(org, policy=FAST)
        assert client.rate_key == "crm:42"
        assert client.rate_limit == 20
        assert crm.token not in repr(client)
        assert client.users_me()["id"]
        crm.reset_stats()
        assert client.supports("email_update") is False  # overridden: not probed
        assert ops(crm)["total"] == 0
        assert client.capabilities().email_update is False
    finally:
        crypto.reset_keys()


# ------------------------------------------------------------------ retries


def test_429_with_retry_after_is_honoured(crm):
    client, sleeps = make_client(crm)
    crm.fault("/api/v1/users/me", 429, retry_after=2)
    assert client.users_me()["id"]
    assert sleeps == [2.0]
    assert ops(crm)["users.me"] == 2


def test_503_then_success(crm):
    client, sleeps = make_client(crm)
    crm.fault("/api/v1/contacts/lookup", 503, count=2)
    assert client.lookup_contacts(["a@example.com"]) == []
    assert len(sleeps) == 2 and all(s <= FAST.max_delay for s in sleeps)
    assert ops(crm)["contacts.lookup"] == 3


def test_500_then_success(crm):
    client, _ = make_client(crm)
    crm.fault("/api/v1/emails", 500, method="GET")
    assert client.find_emails("<a@b>") == []
    assert ops(crm)["emails.lookup"] == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_create_answered_5xx_is_never_repeated_blindly(crm, status):
    client, sleeps = make_client(crm)
    crm.fault("/api/v1/emails", status, method="POST", after_write=True)
    with pytest.raises(MaybeCreated) as lost:
        client.create_email({"subject": "hi", "textBody": "there"})
    assert lost.value.ambiguous and lost.value.status == status
    assert isinstance(lost.value, TransientError)  # callers defer it like any outage
    assert ops(crm)["emails.create"] == 1 and sleeps == []
    assert len(crm.records("emails")) == 1


def test_a_create_whose_answer_never_comes_is_maybe_created(crm):
    client, _ = make_client(crm, timeout=(2.0, 0.3))
    crm.fault("/api/v1/contacts", None, method="POST", after_write=True, delay=2)
    with pytest.raises(MaybeCreated):
        client.create_contact({"firstName": "A", "emailAddresses": ["a@x.example"]})
    assert ops(crm)["contacts.create"] == 1


@pytest.mark.parametrize("status", [408, 429])
def test_a_create_refused_before_processing_is_retried(crm, status):
    client, _ = make_client(crm)
    crm.fault("/api/v1/emails", status, method="POST", retry_after=0)
    assert client.create_email({"subject": "hi"})["id"]
    assert ops(crm)["emails.create"] == 2
    assert len(crm.records("emails")) == 1


def test_updates_and_deletes_are_still_retried(crm):
    client, _ = make_client(crm)
    contact = client.create_contact({"firstName": "A", "emailAddresses": ["u@x.example"]})
    crm.fault("/api/v1/contacts/", 502, method="PATCH")
    crm.fault("/api/v1/contacts/", 504, method="DELETE")
    assert client.update_contact(contact["id"], {"title": "CEO"})["title"] == "CEO"
    assert client.delete_contact(contact["id"])
    assert ops(crm)["contacts.update"] == 2 and ops(crm)["contacts.delete"] == 2


def test_the_idempotency_key_is_sent_and_honoured(crm):
    client, _ = make_client(crm)
    first = client.create_email({"subject": "once"}, idempotency_key="key-1")
    again = client.create_email({"subject": "once"}, idempotency_key="key-1")
    other = client.create_email({"subject": "once"}, idempotency_key="key-2")
    assert again["id"] == first["id"] != other["id"]
    assert len(crm.records("emails")) == 2


def test_exhausted_retries_raise_transient(crm):
    client, sleeps = make_client(crm)
    crm.fault("/api/v1/users/me", 503, count=10, retry_after=1)
    with pytest.raises(TransientError) as err:
        client.users_me()
    assert err.value.status == 503
    assert err.value.retry_after == 1.0
    assert ops(crm)["users.me"] == FAST.attempts
    assert sleeps == [1.0] * (FAST.attempts - 1)


def test_long_retry_after_goes_up_at_once(crm):
    client, sleeps = make_client(crm)
    crm.fault("/api/v1/users/me", 429, count=5, retry_after=600)
    with pytest.raises(TransientError) as err:
        client.users_me()
    assert err.value.retry_after == 600
    assert sleeps == []
    assert ops(crm)["users.me"] == 1


def test_400_is_final_with_the_crm_message_and_no_retry(crm):
    client, sleeps = make_client(crm)
    with pytest.raises(FinalError) as err:
        client.create_email({"subject": "x", "toAddresses": "not-a-list"})
    assert err.value.status == 400
    assert "toAddresses" in err.value.message
    assert sleeps == []
    assert ops(crm)["emails.create"] == 1


def test_other_4xx_carry_the_message(crm):
    client, _ = make_client(crm)
    crm.fault("/api/v1/emails", 422, method="POST", message="subject too long for this CRM")
    with pytest.raises(FinalError) as err:
        client.create_email({"subject": "x"})
    assert err.value.status == 422
    assert err.value.message == "subject too long for this CRM"
    assert ops(crm)["emails.create"] == 1


def test_connection_refused_is_transient():
    client = CrmClient(
        "http://127.0.0.1:9",
        "bearer",
        {"token": "t"},
        rate_key="crm:x",
        policy=FAST,
        sleep=lambda s: None,
    )
    with pytest.raises(TransientError):
        client.users_me()


def test_requests_wait_for_the_org_budget(crm):
    client, _ = make_client(crm, rate_limit=3)
    started = time.monotonic()
    for _ in range(7):
        client.users_me()
    assert time.monotonic() - started >= 1.0  # 7 requests at 3/s span three windows


# ------------------------------------------------------------------ contacts


def test_lookup_batches_and_caches_per_client(crm):
    seeded = crm.seed(
        contacts=[
            {"firstName": f"P{i}", "emailAddresses": [f"person{i}@example.com"]}
            for i in range(0, 120, 2)
        ]
    )["contacts"]
    client, _ = make_client(crm, lookup_batch_size=50)
    addresses = [f"Person{i}@Example.com" for i in range(120)]
    found = client.lookup_contacts(addresses)
    assert {c["id"] for c in found} == {c["id"] for c in seeded}
    assert ops(crm)["contacts.lookup"] == 3  # 120 addresses, 50 per call

    # Asked again (any case, hits and misses alike): answered from the cache.
    again = client.lookup_contacts([a.lower() for a in addresses[:10]])
    assert len(again) == 5
    assert ops(crm)["contacts.lookup"] == 3

    by_email = client.contacts_by_email(["person0@example.com", "person1@example.com"])
    assert [c["id"] for c in by_email["person0@example.com"]] == [seeded[0]["id"]]
    assert by_email["person1@example.com"] == []
    assert ops(crm)["contacts.lookup"] == 3

    # A new client (a new run) asks again; forget() makes this one ask again.
    client.forget(["PERSON1@example.com", "person2@example.com"])
    client.lookup_contacts(addresses)
    assert ops(crm)["contacts.lookup"] == 4
    crm.reset_stats()
    make_client(crm)[0].lookup_contacts(addresses[:3])
    assert ops(crm)["contacts.lookup"] == 1


def test_lookup_matches_every_address_of_a_contact(client, crm):
    [ann] = crm.seed(
        contacts=[{"firstName": "Ann", "emailAddresses": ["ann@a.com", "Ann.Private@b.org"]}]
    )["contacts"]
    got = client.contacts_by_email(["ann.private@B.org", "ANN@a.com", "zed@a.com"])
    assert got == {"ann.private@b.org": [ann], "ann@a.com": [ann], "zed@a.com": []}
    assert client.lookup_contacts(["ann@a.com", "ann.private@b.org"]) == [ann]


def test_lead_lookup_batches_and_caches_per_client(crm):
    [lena] = crm.seed(
        leads=[{"firstName": "Lena", "emailAddresses": ["lena@leadco.io", "L@Home.example"]}]
    )["leads"]
    client, _ = make_client(crm, lookup_batch_size=2)
    assert client.supports("leads")
    got = client.leads_by_email(["LENA@leadco.io", "l@home.example", "zed@a.com"])
    assert got == {"lena@leadco.io": [lena], "l@home.example": [lena], "zed@a.com": []}
    assert ops(crm)["leads.lookup"] == 3  # the probe, then 3 addresses at 2 per call
    client.leads_by_email(["zed@a.com", "lena@leadco.io"])
    assert ops(crm)["leads.lookup"] == 3  # hits and misses alike come from the cache
    with CrmSandbox(breakages=frozenset({"no_leads"})) as bare:
        assert not make_client(bare)[0].supports("leads")


def test_contact_crud_keeps_the_cache_honest(crm):
    client, _ = make_client(crm)
    assert client.lookup_contacts(["new@example.com"]) == []
    created = client.create_contact({"firstName": "New", "emailAddresses": ["new@example.com"]})
    assert created["id"] and created["lastModifiedAt"]
    # The cached miss now holds the new contact, without asking the CRM.
    calls = ops(crm)["contacts.lookup"]
    assert client.lookup_contacts(["new@example.com"]) == [created]
    assert ops(crm)["contacts.lookup"] == calls

    assert client.get_contact(created["id"])["firstName"] == "New"
    updated = client.update_contact(created["id"], {"title": "CTO"})
    assert updated["title"] == "CTO"
    assert updated["lastModifiedAt"] > created["lastModifiedAt"]
    assert client.lookup_contacts(["new@example.com"])[0]["title"] == "CTO"

    assert client.delete_contact(created["id"]) is True
    assert client.delete_contact(created["id"]) is False  # already gone
    assert client.lookup_contacts(["new@example.com"]) == []
    with pytest.raises(NotFoundError):
        client.get_contact(created["id"])


def test_contacts_since_is_inclusive_and_pages(crm):
    client, _ = make_client(crm, page_size=100)
    crm.seed(
        contacts=[
            {"firstName": f"C{i}", "emailAddresses": [f"c{i}@example.com"]} for i in range(250)
        ]
    )
    crm.reset_stats()
    everyone = list(client.contacts_since(None))
    assert len(everyone) == 250 and len({c["id"] for c in everyone}) == 250
    assert ops(crm)["contacts.list"] == 3  # pageToken: 100 + 100 + 50

    last = everyone[-1]
    since = list(client.contacts_since(last["lastModifiedAt"]))
    assert [c["id"] for c in since] == [last["id"]]  # inclusive
    future = datetime.now(UTC) + timedelta(days=1)
    assert list(client.contacts_since(future)) == []


def test_offset_paging():
    with CrmSandbox(paging="offset") as crm:
        client, _ = make_client(crm, page_size=40)
        crm.seed(contacts=[{"firstName": f"C{i}"} for i in range(100)])
        crm.reset_stats()
        ids = [c["id"] for c in client.contacts_since("2000-01-01T00:00:00+00:00")]
        assert len(ids) == 100 and len(set(ids)) == 100
        assert ops(crm)["contacts.list"] == 3  # 40 + 40 + 20 (a short page ends it)


def test_deleted_contacts_since(client):
    a = client.create_contact({"firstName": "A", "emailAddresses": ["a@x.com"]})
    b = client.create_contact({"firstName": "B", "emailAddresses": ["b@x.com"]})
    client.delete_contact(a["id"])
    client.delete_contact(b["id"])
    gone = list(client.deleted_contacts_since(a["lastModifiedAt"]))
    assert [g["id"] for g in gone] == [a["id"], b["id"]]
    assert all(g["deletedAt"] for g in gone)
    second = list(client.deleted_contacts_since(gone[1]["deletedAt"]))
    assert [g["id"] for g in second] == [b["id"]]


# ------------------------------------------------------------------ companies, deals, users


def test_companies(client, crm):
    created = client.create_company({"name": "Acme", "domains": ["acme.com"]})
    assert client.get_company(created["id"])["name"] == "Acme"
    assert client.lookup_companies(domain="ACME.com") == [created]
    assert client.lookup_companies(name="Acme") == [created]
    assert client.lookup_companies(domain="sub.acme.com") == []
    calls = ops(crm)["companies.lookup"]
    client.lookup_companies(domain="acme.com")
    assert ops(crm)["companies.lookup"] == calls  # cached
    with pytest.raises(ValueError):
        client.lookup_companies()


def test_opportunities(client, crm):
    seeded = crm.seed(
        opportunities=[
            {"name": "Deal 1", "isClosed": False, "contactIds": ["ct_9"], "companyId": "co_1"},
            {"name": "Deal 2", "isClosed": True, "contactIds": [], "companyId": "co_2"},
        ]
    )["opportunities"]
    assert client.lookup_opportunities(["ct_9"]) == [seeded[0]]
    assert client.lookup_opportunities(company_ids=["co_2"]) == [seeded[1]]
    assert len(client.lookup_opportunities(["ct_9"], ["co_2"])) == 2
    assert client.lookup_opportunities() == []


def test_users(client, crm):
    crm.seed(users=[{"name": "Bo", "email": "bo@corp.com"}, {"name": "Al", "email": "al@corp.com"}])
    me = client.users_me()
    assert me["email"] == "admin@sandbox-crm.example"
    found = client.lookup_users(["BO@corp.com", "al@corp.com", "nobody@corp.com"])
    assert sorted(u["name"] for u in found) == ["Al", "Bo"]


# ------------------------------------------------------------------ emails


def test_email_logging(client, crm):
    msg = "<abc@mail.example>"
    assert client.find_emails(msg) == []
    created = client.create_email(
        {"rfc822MsgId": msg, "subject": "Hello", "textBody": "Hi", "toAddresses": ["a@x.com"]}
    )
    client.create_email({"rfc822MsgId": "<other@mail.example>", "subject": "Other"})
    assert [e["id"] for e in client.find_emails(msg)] == [created["id"]]
    assert client.get_email(created["id"])["subject"] == "Hello"
    updated = client.update_email(created["id"], {"relatedTo": {"contacts": ["ct_1"]}})
    assert updated["relatedTo"]["contacts"] == ["ct_1"]
    assert updated["subject"] == "Hello"
    assert ops(crm)["emails.update"] == 1


def test_update_falls_back_to_put_without_patch():
    with CrmSandbox(breakages=frozenset({"no_patch"})) as crm:
        client, _ = make_client(crm)
        email = client.create_email({"subject": "Keep me", "textBody": "body"})
        updated = client.update_email(email["id"], {"relatedTo": {"contacts": ["ct_7"]}})
        assert updated["subject"] == "Keep me"  # merged, not wiped by the PUT
        assert updated["relatedTo"]["contacts"] == ["ct_7"]
        client.update_email(email["id"], {"subject": "Again"})
        stats = ops(crm)
        assert stats["unrouted"] == 1  # the one PATCH answered 405 ...
        assert stats["emails.replace"] == 2  # ... then PUT straight away
        assert client.get_email(email["id"])["subject"] == "Again"


def test_find_emails_drops_unrelated_records():
    with CrmSandbox(breakages=frozenset({"email_lookup_ignores_filter"})) as crm:
        client, _ = make_client(crm)
        mine = client.create_email({"rfc822MsgId": "<mine@x>", "subject": "mine"})
        client.create_email({"rfc822MsgId": "<theirs@x>", "subject": "theirs"})
        assert client.find_emails("<mine@x>") == [mine]


def test_created_without_id_is_a_contract_error():
    with CrmSandbox(breakages=frozenset({"missing_id_on_create"})) as crm:
        client, _ = make_client(crm)
        with pytest.raises(ContractError):
            client.create_email({"subject": "x"})


# ------------------------------------------------------------------ events, tasks


def test_events(client):
    start = datetime(2030, 5, 1, 9, tzinfo=UTC)
    event = client.create_event(
        {
            "subject": "Kick-off",
            "startTime": start.isoformat(),
            "endTime": (start + timedelta(hours=1)).isoformat(),
            "attendees": [{"emailAddress": "a@x.com", "status": "accepted"}],
        }
    )
    assert client.get_event(event["id"])["subject"] == "Kick-off"
    window = list(client.events_in_window(start - timedelta(hours=2), start + timedelta(minutes=1)))
    assert [e["id"] for e in window] == [event["id"]]
    assert (
        list(client.events_in_window(start + timedelta(hours=1), start + timedelta(hours=2))) == []
    )
    moved = client.update_event(event["id"], {"location": "Room 1"})
    assert moved["location"] == "Room 1"
    assert [e["id"] for e in client.events_since(moved["lastModifiedAt"])] == [event["id"]]
    assert client.delete_event(event["id"]) is True
    assert [d["id"] for d in client.deleted_events_since(moved["lastModifiedAt"])] == [event["id"]]


def test_tasks(client):
    task = client.create_task({"subject": "Call back", "status": "notStarted"})
    assert client.get_task(task["id"])["subject"] == "Call back"
    done = client.update_task(task["id"], {"status": "completed"})
    assert done["status"] == "completed"
    assert [t["id"] for t in client.tasks_since(done["lastModifiedAt"])] == [task["id"]]
    assert [t["id"] for t in client.tasks_since()] == [task["id"]]
    assert client.delete_task(task["id"]) is True
    assert [d["id"] for d in client.deleted_tasks_since(task["lastModifiedAt"])] == [task["id"]]


# ------------------------------------------------------------------ capabilities


def enabled(caps: Capabilities) -> set[str]:
    return {name for name, on in caps.as_dict().items() if on}


def test_capabilities_of_the_full_reference_are_cached(crm):
    client, _ = make_client(crm)
    assert client.capabilities() == FULL
    probes = ops(crm)["total"]
    assert 0 < probes <= 36
    assert client.capabilities() == FULL
    assert ops(crm)["total"] == probes  # cached on the client
    assert all(name not in ops(crm) for name in ("contacts.create", "events.create"))


def test_capabilities_of_a_minimal_connector():
    with CrmSandbox(breakages=MINIMAL) as crm:
        client, _ = make_client(crm)
        assert enabled(client.capabilities()) == MINIMAL_CAPS


def test_capabilities_with_some_endpoints_missing():
    broken = frozenset({"no_email_update", "no_deleted_contacts", "no_tasks", "no_patch"})
    with CrmSandbox(breakages=broken) as crm:
        caps = make_client(crm)[0].capabilities()
        assert not caps.email_update and not caps.deleted_contacts
        assert not any(getattr(caps, n) for n in Capabilities.names() if "task" in n)
        assert caps.event_update  # PUT still works for events
        assert not caps.contact_update  # contacts have no PUT
        assert caps.email_lookup and caps.contacts_since and caps.events_window


@pytest.mark.parametrize("breakages", [frozenset(), MINIMAL])
@pytest.mark.parametrize("options", [True, False])
def test_capability_discovery_never_writes(breakages, options):
    with CrmSandbox(breakages=breakages | ({"no_options"} if not options else set())) as crm:
        make_client(crm)[0].capabilities()
        methods = crm.stats()["byMethod"]
        assert set(methods) <= {"GET", "OPTIONS"}, methods
        assert crm.records("contacts") == []


@pytest.mark.parametrize("breakages", [frozenset(), MINIMAL])
def test_capabilities_without_options_support(breakages):
    with CrmSandbox(breakages=breakages | {"no_options"}) as crm:
        client = make_client(crm)[0]
        caps = client.capabilities()
        if not breakages:
            # Uploads are known only from OPTIONS/Allow (or the org's override): never presumed.
            assert caps == replace(FULL, email_attachments=False)
            return
        # Writes cannot be seen without writing: presumed where the record can be read...
        presumed = {"email_update", "contact_create", "contact_update", "contact_delete"}
        assert enabled(caps) == MINIMAL_CAPS | presumed
        # ...and the first real write that says "no such operation" settles it.
        with pytest.raises(FinalError) as refused:
            client.create_contact({"firstName": "A", "emailAddresses": ["a@x.example"]})
        assert refused.value.status in (404, 405)  # no route, or no such method on it
        assert client.supports("contact_create") is False
        assert client.probed()["contact_create"] is False  # remembered with the org
        email = client.create_email({"subject": "x"})
        with pytest.raises(FinalError):
            client.update_email(email["id"], {"subject": "y"})
        assert client.supports("email_update") is False


def test_supports_probes_one_capability(crm):
    client, _ = make_client(crm)
    assert client.supports("company_lookup_domain") is True
    assert ops(crm) == {"total": 1, "companies.lookup": 1}
    with pytest.raises(KeyError):
        client.supports("teleport")


def test_probe_with_dead_credentials_raises(crm):
    client = CrmClient(crm.url, "bearer", {"token": "dead"}, rate_key="crm:t", policy=FAST)
    with pytest.raises(AuthError):
        client.capabilities()
