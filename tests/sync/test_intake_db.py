"""The webhook's database intake (brightsync.sync.intake_db) on the embedded default."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from brightsync.db import session_scope
from brightsync.models import Notification
from brightsync.sync import intake_db
from tests.factories import make_org, make_user


def test_threads_of_one_process_each_hold_their_own_connection(unit_env):
    """A threaded server (the demo's) takes webhooks at once: no transaction nests in
    another's, and every notification is recorded once."""
    user_id = make_user(make_org(), "alice", account_id="acct-1")
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def post(thread: int) -> None:
        for i in range(10):
            note = {"accountId": "acct-1", "resource": "/email/messages", "payloads": []}
            try:
                outcome, uid = intake_db.accept(note, f"d-{thread}-{i}", "email")
                assert uid == user_id
                outcomes.append(outcome)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=post, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(set(outcomes)) <= ["coalesced", "enqueued"] and len(outcomes) == 60
    assert outcomes.count("enqueued") == 1  # one run requested, the rest coalesced into it
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 60
