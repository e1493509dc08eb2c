"""The shared short-lived cache and the opportunity window on it, on both coordinators:
the database (embedded default) and Redis (PostgreSQL + Redis)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from brightsync.clients.crm import CrmClient
from brightsync.clients.http import FinalError
from brightsync.coordination import DatabaseCoordinator, RedisCoordinator, get_coordinator
from brightsync.crm.opportunities import OpportunityCache, merge, split_by_owner
from brightsync.db import session_scope
from brightsync.models import CacheEntry
from brightsync.sandbox.crm.harness import CrmSandbox


def _key(name: str) -> str:
    return f"test:{uuid.uuid4().hex[:8]}:{name}"


def test_values_are_shared_until_their_ttl_ends(backend):
    coordinator = get_coordinator()
    expected = DatabaseCoordinator if backend.name == "embedded" else RedisCoordinator
    assert isinstance(coordinator, expected)
    a, b, c = _key("a"), _key("b"), _key("c")
    coordinator.cache_set_many({a: "1", b: '["x"]'}, ttl=0.6)
    assert coordinator.cache_get_many([a, b, c]) == {a: "1", b: '["x"]'}
    coordinator.cache_set_many({a: "2"}, ttl=30)  # a later store replaces and extends
    assert coordinator.cache_get_many([a]) == {a: "2"}
    time.sleep(0.8)
    assert coordinator.cache_get_many([a, b]) == {a: "2"}  # b's window is over
    assert coordinator.cache_get_many([]) == {}
    coordinator.cache_set_many({c: "3"}, ttl=0)  # no window: nothing is kept
    assert coordinator.cache_get_many([c]) == {}


def test_many_keys_in_one_call(backend):
    coordinator = get_coordinator()
    values = {_key(str(i)): str(i) for i in range(700)}  # more than one statement's worth
    coordinator.cache_set_many(values, ttl=30)
    assert coordinator.cache_get_many(list(values)) == values


def test_the_database_prunes_expired_values_when_it_stores(backend):
    if backend.name != "embedded":
        pytest.skip("Redis expires its keys by itself")
    coordinator = get_coordinator()
    stale = {_key(f"old{i}"): "x" for i in range(5)}
    coordinator.cache_set_many(stale, ttl=0.2)
    time.sleep(0.4)
    coordinator.cache_set_many({_key("new"): "y"}, ttl=30)
    with session_scope() as s:
        left = s.scalar(
            select(func.count()).select_from(CacheEntry).where(CacheEntry.key.in_(list(stale)))
        )
    assert left == 0


def _opp(oid: str, contacts: list[str] = (), company: str | None = None) -> dict[str, Any]:
    return {
        "id": oid,
        "name": oid,
        "isClosed": False,
        "contactIds": list(contacts),
        "companyId": company,
    }


@pytest.fixture
def crm(backend) -> Iterator[tuple[CrmSandbox, CrmClient]]:
    """The reference CRM over HTTP and a client of it; its calls are counted."""
    with CrmSandbox(token="tok") as sandbox:
        client = CrmClient(
            sandbox.url, "bearer", {"token": "tok"}, rate_key="test", rate_limit=100000
        )
        yield sandbox, client


def _org() -> int:
    return 10_000 + uuid.uuid4().int % 1_000_000  # no other test's org


def _lookups(sandbox: CrmSandbox) -> int:
    return sandbox.ops().get("opportunities.lookup", 0)


def test_split_and_merge_keep_what_relations_read():
    deal = _opp("o1", ["c1", "c2"], "co1")
    other = _opp("o2", ["c3"])
    shares = split_by_owner(
        [deal, other, "junk"], [("contact", "c1"), ("contact", "c9"), ("company", "co1")]
    )
    assert shares == {
        ("contact", "c1"): [deal],
        ("contact", "c9"): [],  # a known "no deals" is kept too
        ("company", "co1"): [deal],
    }
    assert merge([deal], [deal, other], ["junk"]) == [deal, other]
    numeric = {"id": 7, "contactIds": [5], "companyId": 9}
    assert split_by_owner([numeric], [("contact", "5"), ("company", " 9")]) == {
        ("contact", "5"): [numeric],
        ("company", " 9"): [numeric],
    }


def _ids(opps: list[dict[str, Any]]) -> list[str]:
    return sorted(o["id"] for o in opps)


def test_a_second_lookup_asks_only_for_ids_not_held(crm):
    sandbox, client = crm
    sandbox.seed(
        opportunities=[_opp("o1", ["c1"]), _opp("o2", ["c2"], "co1"), _opp("o3", [], "co1")]
    )
    org, fetch = _org(), client.lookup_opportunities
    cache = OpportunityCache(org, sandbox.url, 30)
    assert _ids(cache.lookup(fetch, ["c1"], [])) == ["o1"]
    assert _ids(cache.lookup(fetch, ["c1"], [])) == ["o1"]
    assert _lookups(sandbox) == 1  # held
    assert _ids(cache.lookup(fetch, ["c1", "c2"], ["co1"])) == ["o1", "o2", "o3"]
    assert _lookups(sandbox) == 2  # one call, for c2 and co1 only
    # Another worker (another cache object) shares the answers...
    assert _ids(OpportunityCache(org, sandbox.url, 30).lookup(fetch, ["c2"], [])) == ["o2"]
    assert _lookups(sandbox) == 2
    # ...another organisation does not, nor the same one connected to another CRM.
    OpportunityCache(org + 1, sandbox.url, 30).lookup(fetch, ["c1"], [])
    assert _lookups(sandbox) == 3
    OpportunityCache(org, sandbox.url + "/elsewhere", 30).lookup(fetch, ["c1"], [])
    assert _lookups(sandbox) == 4


def test_no_window_always_asks_and_a_refusal_is_not_kept(crm):
    sandbox, client = crm
    sandbox.seed(opportunities=[_opp("o1", ["c1"])])
    org, fetch = _org(), client.lookup_opportunities
    off = OpportunityCache(org, sandbox.url, 0)
    off.lookup(fetch, ["c1"], [])
    off.lookup(fetch, ["c1"], [])
    assert _lookups(sandbox) == 2
    sandbox.fault("/api/v1/opportunities/lookup", 422, count=0, match="bad")
    on = OpportunityCache(org, sandbox.url, 30)
    for _ in range(2):
        with pytest.raises(FinalError):
            on.lookup(fetch, ["c1", "bad"], [])
    assert _lookups(sandbox) == 4  # asked again: nothing was kept of a refusal
    assert _ids(on.lookup(fetch, ["c1"], [])) == ["o1"]


def test_a_new_deal_of_held_ids_is_seen_when_the_window_ends(crm):
    sandbox, client = crm
    org, fetch = _org(), client.lookup_opportunities
    cache = OpportunityCache(org, sandbox.url, 0.5)
    assert cache.lookup(fetch, ["c1"], []) == []
    sandbox.seed(opportunities=[_opp("new", ["c1"])])
    assert cache.lookup(fetch, ["c1"], []) == []  # within the window
    time.sleep(0.7)
    assert _ids(cache.lookup(fetch, ["c1"], [])) == ["new"]
