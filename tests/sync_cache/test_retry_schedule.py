"""The sync cache retries an item `unmatched.retryEveryHours` after parking, then on that
cadence, from an hourly job that takes only what is due (issue 19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brightsync.db import session_scope
from brightsync.domains import CACHE_KINDS
from brightsync.models import UnmatchedItem, utcnow
from brightsync.sync_cache import cache
from tests.conftest import wait_for
from tests.support.helpers import make_org, make_user

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)


# --- pure ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "hours"),
    [({}, 24), ({"unmatched": {"retryEveryHours": 3}}, 3), ({"unmatched": {}}, 24)],
)
def test_retry_every_reads_the_setting(settings, hours):
    assert cache.retry_every(settings) == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("late", "expected"),
    [
        (timedelta(0), T0 + 3 * H),  # on time
        (55 * timedelta(minutes=1), T0 + 3 * H),  # the hourly job came late: cadence kept
        (3 * H, T0 + 6 * H),  # exactly one period late: the next one
        (7 * H, T0 + 9 * H),  # beat was down for two periods: the next one after now
    ],
)
def test_next_retry_keeps_the_items_cadence(late, expected):
    assert cache.next_retry(T0, T0 + late, 3 * H) == expected


def test_an_early_retry_leaves_the_due_one_in_place():
    assert cache.next_retry(T0, T0 - 2 * H, 3 * H) == T0


def test_every_retry_of_a_parked_item_comes_within_the_hour_after_its_time():
    """Simulate the hourly job (at :15) for a week with retryEveryHours of 5."""
    every = 5 * H
    parked = T0 + timedelta(minutes=20)
    due = parked + every
    retries = []
    for tick in range(7 * 24):
        now = T0 + tick * H + timedelta(minutes=15)
        if due <= now:
            retries.append(now)
            due = cache.next_retry(due, now, every)
    assert len(retries) >= 7 * 24 // 5 - 1
    for n, at in enumerate(retries, start=1):
        assert timedelta(0) <= at - (parked + n * every) < H


def test_the_retry_job_runs_hourly():
    from celeryconfig import beat_schedule

    jobs = [j for j in beat_schedule.values() if j["task"] == "brightsync.unmatched.retry"]
    assert len(jobs) == 1
    schedule = jobs[0]["schedule"]
    assert schedule.hour == set(range(24)) and len(schedule.minute) == 1


# --- on the stack ------------------------------------------------------------------------------


def _park(org_id, user_id, key, now):
    with session_scope() as s:
        cache.park(
            s,
            org_id=org_id,
            kind="email",
            key=key,
            user_id=user_id,
            subject=key,
            addresses=["nobody@prospect.io"],
            reason="no matching contact",
            settings={"unmatched": {"retryEveryHours": 3}},
            now=now,
        )


def _items():
    with session_scope() as s:
        return {i.key: (i.attempts, i.next_retry_at) for i in s.query(UnmatchedItem)}


def test_a_parked_item_is_retried_every_hours_after_parking_and_not_before(clean_stack):
    org_id = make_org(clean_stack, {"unmatched": {"retryEveryHours": 3}})
    user = make_user(clean_stack, org_id, "alice@acme.com")
    now = utcnow()
    _park(org_id, user["id"], "fresh", now)
    _park(org_id, user["id"], "almost", now - 3 * H + timedelta(minutes=5))
    _park(org_id, user["id"], "due", now - 3 * H - timedelta(minutes=20))
    items = _items()
    assert items["fresh"] == (0, now + 3 * H)  # first retry: parking time + retryEveryHours

    result = cache.retry_due(CACHE_KINDS)

    assert result == {"checked": 1, "matched": 0, "waiting": 1, "addresses": 1}
    after = _items()
    assert after["fresh"] == items["fresh"] and after["almost"] == items["almost"]
    # Retried once, and next due one period later on its own cadence (not from now).
    assert after["due"] == (1, items["due"][1] + 3 * H)

    # The hourly task on a real worker takes the item that has become due, only it.
    with session_scope() as s:
        s.query(UnmatchedItem).filter(UnmatchedItem.key == "almost").update(
            {"next_retry_at": utcnow() - timedelta(minutes=1)}
        )
    from brightsync.celery import app

    app.send_task("brightsync.unmatched.retry")
    wait_for(lambda: _items()["almost"][0] == 1, timeout=60, message="the due item's retry")
    final = _items()
    assert final["fresh"] == items["fresh"] and final["due"] == after["due"]
