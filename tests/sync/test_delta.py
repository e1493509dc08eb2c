"""The one Aurinko delta reader of the two-way domains (sync/delta.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from brightsync.clients.aurinko import DeltaPage, SyncTokenExpired, SyncTokens
from brightsync.sync.delta import read_delta


class FakeAurinko:
    """Delta pages per token; tokens in `expired` answer 410 (on their first page)."""

    def __init__(self, pages: dict[str, list[DeltaPage]], expired: set[str] = frozenset()):
        self.pages = pages
        self.expired = set(expired)
        self.calls: list[tuple[str, str, str, dict[str, Any]]] = []

    def delta_pages(self, service: str, kind: str, token: str, **where: Any) -> Iterator[DeltaPage]:
        self.calls.append((service, kind, token, where))
        if token in self.expired:
            raise SyncTokenExpired("gone", status=410)
        yield from self.pages.get(token, [])


def page(records: list[dict[str, Any]], token: str | None = None) -> DeltaPage:
    return DeltaPage(records, None if token else "next", token)


def starter(tokens: list[SyncTokens]):
    started = []

    def start() -> SyncTokens:
        started.append(True)
        return tokens[len(started) - 1]

    return start, started


def test_reads_every_page_of_both_tokens_and_returns_the_next_tokens():
    aurinko = FakeAurinko(
        {
            "u1": [page([{"id": "a"}]), page([{"id": "b"}], "u2")],
            "d1": [page([{"id": "x"}, {"no": "id"}], "d2")],
        }
    )
    start, started = starter([])
    delta = read_delta(
        aurinko, "tasks", {"updated": "u1", "deleted": "d1"}, start, task_list_id="L"
    )
    assert [r["id"] for r in delta.updated] == ["a", "b"]
    assert delta.deleted_ids == ["x"]
    assert delta.tokens == {"updated": "u2", "deleted": "d2"}
    assert not started
    assert {c[3]["task_list_id"] for c in aurinko.calls} == {"L"}


def test_a_read_without_a_last_page_token_keeps_the_old_one():
    aurinko = FakeAurinko({"u1": [], "d1": []})
    delta = read_delta(aurinko, "contacts", {"updated": "u1", "deleted": "d1"}, starter([])[0])
    assert delta.tokens == {"updated": "u1", "deleted": "d1"}


def test_no_tokens_start_the_sync_first():
    aurinko = FakeAurinko({"s-u": [page([{"id": "a"}], "u2")], "s-d": [page([], "d2")]})
    start, started = starter([SyncTokens("s-u", "s-d")])
    delta = read_delta(aurinko, "calendar", None, start)
    assert len(started) == 1
    assert delta.tokens == {"updated": "u2", "deleted": "d2"}


def test_an_expired_token_restarts_once_with_a_full_listing():
    aurinko = FakeAurinko(
        {"u1": [page([{"id": "stale"}], "u9")], "s-u": [page([{"id": "a"}], "u2")]},
        expired={"d1"},  # the deleted half expires after the updated half was read
    )
    start, started = starter([SyncTokens("s-u", "s-d")])
    delta = read_delta(aurinko, "contacts", {"updated": "u1", "deleted": "d1"}, start)
    assert len(started) == 1
    assert [r["id"] for r in delta.updated] == ["a"]  # the stale half read is dropped
    assert delta.tokens == {"updated": "u2", "deleted": "s-d"}


def test_expiring_twice_in_a_row_is_raised():
    aurinko = FakeAurinko({}, expired={"u1", "s-u"})
    start, started = starter([SyncTokens("s-u", "s-d")])
    with pytest.raises(SyncTokenExpired, match="twice"):
        read_delta(aurinko, "tasks", {"updated": "u1", "deleted": "d1"}, start)
    assert len(started) == 1
