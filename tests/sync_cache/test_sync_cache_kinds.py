"""The sync cache knows no kind: a registered kind gets its matched and expired items back;
an item of a kind nobody registered waits instead of being dropped."""

from __future__ import annotations

import sys
from datetime import timedelta

from brightsync.db import session_scope
from brightsync.domains import CACHE_KINDS
from brightsync.models import UnmatchedItem, utcnow
from brightsync.sync_cache import cache
from tests.support.helpers import make_org, make_user, seed_contacts

CALLS: list[tuple] = []
DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}


# This module is itself the "probe" kind the test registers (see cache.CachedKind).
def reopen(session, org_id, keys):
    CALLS.append(("reopen", org_id, sorted(keys)))
    return [len(k) for k in keys]


def resume(ids):
    CALLS.append(("resume", sorted(ids)))


def expire(session, org_id, keys, now):
    CALLS.append(("expire", org_id, sorted(keys)))


def relink(org_id, addresses):
    CALLS.append(("relink", org_id, sorted(addresses)))
    return 0


def _park(org_id, user_id, kind, key, address):
    with session_scope() as s:
        cache.park(
            s,
            org_id=org_id,
            kind=kind,
            key=key,
            user_id=user_id,
            subject=key,
            addresses=[address],
            reason="no contact",
            settings={},
        )


def _keys():
    with session_scope() as s:
        return sorted((i.kind, i.key) for i in s.query(UnmatchedItem))


def test_kinds_register_retry_handlers_and_unknown_kinds_wait(clean_stack):
    kinds = {**CACHE_KINDS, "probe": sys.modules[__name__]}
    CALLS.clear()
    org_id = make_org(clean_stack)
    user = make_user(clean_stack, org_id, "alice@acme.com")
    _park(org_id, user["id"], "probe", "m-1", "dave@customer.com")
    _park(org_id, user["id"], "probe", "m-22", "zed@nowhere.io")
    _park(org_id, user["id"], "stranger", "s-1", "dave@customer.com")
    seed_contacts(clean_stack, DAVE)

    result = cache.retry_due(kinds, force=True)

    assert result["matched"] == 1 and result["waiting"] == 2
    assert CALLS == [("reopen", org_id, ["m-1"]), ("resume", [3])]
    assert _keys() == [("probe", "m-22"), ("stranger", "s-1")]

    CALLS.clear()
    assert cache.expire(kinds, now=utcnow() + timedelta(days=31)) == 2
    assert CALLS == [("expire", org_id, ["m-22"])]
    assert _keys() == []
