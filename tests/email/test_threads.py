import itertools
import re

from hypothesis import given
from hypothesis import strategies as st

from brightsync.email.threads import (
    MAX_THREAD_KEYS,
    ThreadPlan,
    new_thread_id,
    parse_message_ids,
    plan_thread,
    provider_thread_key,
    thread_keys,
)


def counter_ids(prefix="t"):
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter):06d}"


def test_thread_keys_order_dedup_and_normalisation():
    msg = {
        "internetMessageId": "<C1@X.COM>",
        "inReplyTo": "<b1@x.com>",
        "references": "<a1@x.com>\r\n  <b1@X.com>",
    }
    assert thread_keys(msg) == ["C1@x.com", "b1@x.com", "a1@x.com"]


def test_thread_keys_fall_back_to_headers_and_tolerate_junk():
    msg = {
        "internetMessageId": None,
        "references": 42,
        "internetHeaders": [
            {"name": "Message-Id", "value": "<own@x>"},
            {"name": "IN-REPLY-TO", "value": "<parent@x>"},
            {"name": "References", "value": "root@x parent@x"},  # brackets dropped by a client
        ],
    }
    assert thread_keys(msg) == ["own@x", "parent@x", "root@x"]
    assert thread_keys(None) == []
    assert thread_keys({}) == []


def test_thread_keys_bounded_keeps_root_and_latest_references():
    refs = " ".join(f"<r{i}@x>" for i in range(1000))
    keys = thread_keys({"internetMessageId": "<own@x>", "references": refs})
    assert len(keys) == MAX_THREAD_KEYS
    assert keys[0] == "own@x" and keys[1] == "r0@x" and keys[-1] == "r999@x"


def test_parse_message_ids_accepts_lists():
    assert parse_message_ids(["<a@x>", "<b@x> <c@x>", None]) == ["a@x", "b@x", "c@x"]


def test_new_message_starts_a_thread():
    plan = plan_thread(["own@x"], {}, None, counter_ids())
    assert plan == ThreadPlan("t000001", frozenset(), ("own@x",), True, "new")


def test_reply_joins_known_thread():
    plan = plan_thread(["reply@x", "own@x"], {"own@x": "t5"}, None, counter_ids())
    assert (plan.thread_id, plan.merged, plan.unassigned, plan.is_new) == (
        "t5",
        frozenset(),
        ("reply@x",),
        False,
    )


def test_late_message_merges_two_threads_under_the_oldest_id():
    known = {"a@x": "t0002", "b@x": "t0001", "c@x": "t0003"}
    plan = plan_thread(["late@x", "a@x", "b@x", "c@x"], known, None, counter_ids())
    assert plan.thread_id == "t0001"
    assert plan.merged == frozenset({"t0002", "t0003"})
    assert plan.unassigned == ("late@x",)
    assert plan.source == "headers"


def test_provider_thread_only_when_headers_say_nothing():
    pkey = provider_thread_key(7, "AAMk=")
    assert pkey == "provider:7:AAMk="
    known = {pkey: "t0009", "a@x": "t0001"}
    by_provider = plan_thread([], known, pkey, counter_ids())
    assert (by_provider.thread_id, by_provider.source) == ("t0009", "provider")
    unknown_headers = plan_thread(["new@x"], known, pkey, counter_ids())
    assert unknown_headers.thread_id == "t0009"
    assert unknown_headers.unassigned == ("new@x",)
    by_headers = plan_thread(["a@x"], known, pkey, counter_ids())
    assert (by_headers.thread_id, by_headers.merged) == ("t0001", frozenset())
    fresh = plan_thread([], {}, provider_thread_key(7, "T2"), counter_ids())
    assert fresh.is_new and fresh.unassigned == ("provider:7:T2",)
    assert provider_thread_key(7, None) is None and provider_thread_key(7, "  ") is None


def test_new_thread_ids_sort_by_time():
    ids = [new_thread_id() for _ in range(200)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"t[0-9a-f]{28}", i) for i in ids)


def apply(store, plan):
    """What the caller does with a plan: record keys, fold merged threads."""
    for key, tid in list(store.items()):
        if tid in plan.merged:
            store[key] = plan.thread_id
    for key in plan.unassigned:
        store[key] = plan.thread_id


def run(messages, order):
    store = {}
    new_id = counter_ids()
    created_by = {}  # thread id -> message index that created it
    for i in order:
        plan = plan_thread(messages[i], store, None, new_id)
        if plan.is_new:
            created_by[plan.thread_id] = i
        apply(store, plan)
    return store, created_by


def partition(messages, store):
    groups = {}
    for i, keys in enumerate(messages):
        groups.setdefault(store[keys[0]], set()).add(i)
    return sorted(sorted(g) for g in groups.values())


key_pool = st.sampled_from([f"k{i}@x" for i in range(12)])
messages_strategy = st.lists(
    st.lists(key_pool, min_size=1, max_size=4, unique=True), min_size=1, max_size=8
)


@given(messages_strategy, st.randoms(use_true_random=False))
def test_merge_is_order_independent_and_keeps_smallest_id(messages, rnd):
    order = list(range(len(messages)))
    base_store, _ = run(messages, order)
    rnd.shuffle(order)
    store, created_by = run(messages, order)
    # Same grouping whatever the arrival order.
    groups = partition(messages, store)
    assert groups == partition(messages, base_store)
    for keys in messages:
        assert len({store[k] for k in keys}) == 1
    # Each group ends under the smallest (oldest) id created by any of its messages.
    for group in groups:
        created_here = [tid for tid, i in created_by.items() if i in group]
        assert store[messages[group[0]][0]] == min(created_here)
