"""CRM deletions by capability (sync/crm_deletions.py): the pure decisions, and `read()` over a
fake client that records what it was asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from brightsync.clients.crm_http import is_deleted
from brightsync.sync import crm_deletions as cd

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    "entry",
    [
        {"id": "1", "deleted": True},
        {"id": "1", "isDeleted": True},
        {"id": "1", "deletedAt": "2024-05-01T10:00:00Z"},
    ],
)
def test_every_deleted_shape_is_deleted(entry):
    assert is_deleted(entry)


@pytest.mark.parametrize(
    "record",
    [{"id": "1"}, {"id": "1", "deleted": False}, {"id": "1", "deletedAt": None}, "1", None],
)
def test_live_records_are_not(record):
    assert not is_deleted(record)


def test_split_keeps_live_records_and_deleted_ids_apart():
    live, gone = cd.split(
        [{"id": "a"}, {"id": "b", "deleted": True}, {"id": "c", "isDeleted": True}, {"x": 1}]
    )
    assert live == [{"id": "a"}] and gone == ["b", "c"]


def test_comparison_due():
    assert cd.comparison_due(None, NOW, HOUR)
    assert cd.comparison_due("garbage", NOW, HOUR)
    assert cd.comparison_due(cd.stamp(NOW - HOUR), NOW, HOUR)
    assert not cd.comparison_due(cd.stamp(NOW - HOUR / 2), NOW, HOUR)


def test_the_longest_cursor_fits_its_column():
    tasks = "2024-05-01T10:00:00Z|2024-04-01T00:00:00Z"
    assert len(cd.join_cursor(tasks, cd.stamp(NOW))) <= 64  # sync_state.crm_since


def test_cursor_round_trip_and_old_cursors():
    assert cd.split_cursor(None) == (None, None)
    assert cd.split_cursor("2024-05-01T10:00:00Z") == ("2024-05-01T10:00:00Z", None)
    joined = cd.join_cursor("2024-05-01T10:00:00Z|2024-04-01T00:00:00Z", "1714561200")
    assert cd.split_cursor(joined) == ("2024-05-01T10:00:00Z|2024-04-01T00:00:00Z", "1714561200")
    assert cd.join_cursor("x", None) == "x"


def test_period_from_the_org_else_the_safety_sync(monkeypatch):
    assert cd.period_of({"crm": {"deletionCheckSeconds": 5}}) == timedelta(seconds=5)
    monkeypatch.setattr(cd, "get_settings", lambda: type("S", (), {"safety_sync_seconds": 60}))
    assert cd.period_of({"crm": {"deletionCheckSeconds": "soon"}}) == timedelta(seconds=60)
    assert cd.period_of({}) == timedelta(seconds=60)


class FakeCrm:
    """What `read()` asks of a client: capabilities, the ?since= list, the deleted feed."""

    def __init__(self, caps: dict[str, bool], changed: list[dict[str, Any]]) -> None:
        self.caps = dict(caps)
        self.changed = changed
        self.asked: list[tuple[str, Any]] = []
        self.discovery = self

    def supports(self, name: str) -> bool:
        return self.caps.get(name, False)

    def learned(self, name: str, offered: bool) -> None:
        self.caps[name] = offered

    def changed_since(self, collection: str, since: Any, *, show_deleted: bool = False):
        self.asked.append(("list", show_deleted))
        return [c for c in self.changed if show_deleted or not is_deleted(c)]

    def deleted_since(self, collection: str, since: Any):
        self.asked.append(("feed", since))
        return [{"id": "fed", "deletedAt": "2024-05-01T11:00:00Z"}]


def read(crm: FakeCrm, since: str | None, checked: str | None) -> cd.CrmRead:
    def listing():
        crm.asked.append(("listing", None))
        return [{"id": "a"}, {"id": "b"}]

    return cd.read(crm, "events", since, checked, listing=listing, now=NOW, period=HOUR)  # type: ignore[arg-type]


def test_the_feed_first():
    crm = FakeCrm({"deleted_events": True}, [{"id": "a"}])
    got = read(crm, "2024-05-01T10:00:00Z", None)
    assert got == cd.CrmRead(({"id": "a"},), ("fed",), False, None)
    assert crm.asked == [("list", False), ("feed", "2024-05-01T10:00:00Z")]


def test_without_a_feed_the_list_is_asked_with_show_deleted_and_learns_it():
    crm = FakeCrm({}, [{"id": "a"}, {"id": "b", "deleted": True, "lastModifiedAt": "x"}])
    got = read(crm, "2024-05-01T10:00:00Z", cd.stamp(NOW - HOUR / 2))  # compared recently
    assert got.records == ({"id": "a"},) and got.deleted == ("b",) and not got.listed
    assert crm.asked == [("list", True)]
    assert crm.caps["events_show_deleted"] is True  # proven: no comparison from now on
    assert not read(crm, "2024-05-01T10:00:00Z", None).listed


def test_without_feed_or_proven_flag_a_due_comparison_lists_in_full():
    crm = FakeCrm({}, [{"id": "a"}])
    got = read(crm, "2024-05-01T10:00:00Z", cd.stamp(NOW - 2 * HOUR))
    assert got.listed and got.records == ({"id": "a"}, {"id": "b"})
    assert got.checked == cd.stamp(NOW)
    assert crm.asked == [("listing", None)]  # instead of the delta


def test_the_first_sync_lists_and_starts_the_period_only_without_a_feed():
    assert read(FakeCrm({}, []), None, None).checked == cd.stamp(NOW)
    with_feed = read(FakeCrm({"deleted_events": True}, []), None, None)
    assert with_feed.checked is None and not with_feed.listed
