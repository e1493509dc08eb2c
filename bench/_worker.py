"""Runs through a real Celery worker process: published as a webhook publishes them, and
waited for until the mailboxes are idle and the CRM is quiet (hand-out tasks included)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests


def start_worker(workdir: Path, name: str) -> Any:
    """`celery -A brightsync worker` on this process's environment (after configure())."""
    from tests.conftest import WorkerProcess

    return WorkerProcess({}, workdir, name)


def publish_runs(user_ids: Iterable[int]) -> None:
    from brightsync.sync import scheduler
    from brightsync.sync.queue import publish_sync

    for uid in user_ids:
        scheduler.request_and_publish(uid, "email", publish_sync, always=True)


def _runs(user_ids: list[int]) -> tuple[int, bool]:
    """(runs finished by these mailboxes' email sync, all idle with nothing pending)."""
    from sqlalchemy import select

    from brightsync.db import session_scope
    from brightsync.models import SyncState

    with session_scope() as s:
        states = list(
            s.scalars(
                select(SyncState).where(
                    SyncState.user_id.in_(user_ids), SyncState.service == "email"
                )
            )
        )
    idle = len(states) == len(user_ids) and all(
        st.state == "idle" and st.pending_since is None for st in states
    )
    return sum(st.runs or 0 for st in states), idle


def run_and_settle(
    crm: str, user_ids: list[int], logged: int, *, timeout: float = 120, quiet: float = 0.5
) -> dict[str, Any]:
    """Publish one run per mailbox; wait until each finished a run more, all are idle, the
    CRM holds `logged` more emails and its counters stopped moving for `quiet` seconds.
    Raises (the benchmark fails loudly) when that does not happen within `timeout`."""
    before, _ = _runs(user_ids)
    start_logged = _created(crm)
    publish_runs(user_ids)
    deadline = time.monotonic() + timeout
    last, still_since = None, time.monotonic()
    while time.monotonic() < deadline:
        runs, idle = _runs(user_ids)
        stats = requests.get(crm + "/_control/stats", timeout=30).json()
        total = stats.get("total", sum(stats["byOperation"].values()))
        if total != last:
            last, still_since = total, time.monotonic()
        done = runs >= before + len(user_ids) and idle
        if done and _created(crm) - start_logged >= logged:
            if time.monotonic() - still_since >= quiet:
                return stats
        time.sleep(0.05)
    raise RuntimeError(
        f"runs did not finish with {logged} email(s) logged within {timeout}s "
        f"(runs {_runs(user_ids)}, logged {_created(crm) - start_logged})"
    )


def _created(crm: str) -> int:
    records = requests.get(crm + "/_control/records/emails", timeout=30).json()
    items = records if isinstance(records, list) else records.get("records", [])
    return len(items)


def emails(crm: str) -> list[dict[str, Any]]:
    records = requests.get(crm + "/_control/records/emails", timeout=30).json()
    return records if isinstance(records, list) else records.get("records", [])
