"""Redis loses its data (FLUSHDB and every client cut off) while notifications are buffered
and tasks queued in it: the worker notices the lost generation key and rebuilds from the
database, so every mail is logged exactly once with no outside help (issue 20).

No beat runs here: what brings the mail back is the worker's own check on reconnecting and
every few seconds, not the 30-minute safety sync nor an operator's "sync now".
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import WorkerProcess, wait_for
from tests.support.faults import redis_loses_everything
from tests.support.helpers import crm_emails, make_org, make_user, person, seed_contacts, send

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}


def _generation_stored() -> bool:
    from brightsync.db import session_scope
    from brightsync.generation import DB_KEY
    from brightsync.models import CacheEntry

    with session_scope() as s:
        return s.get(CacheEntry, DB_KEY) is not None


def test_lost_redis_is_rebuilt_from_the_database(clean_stack):
    st = clean_stack
    if not st.env.get("REDIS_URL"):
        pytest.skip("no Redis: the embedded broker keeps its queue in the database")
    org_id = make_org(st)
    make_user(st, org_id, "alice@acme.com")
    make_user(st, org_id, "bob@acme.com")
    seed_contacts(st, DAVE)
    first = send(st, person("dave@customer.com"), ["alice@acme.com"], "Before")
    wait_for(lambda: crm_emails(st, first["internetMessageId"]), 30, message="first mail")
    wait_for(_generation_stored, 15, message="the worker recorded the Redis generation")

    # Mail arrives while no worker runs: its notifications wait in Redis (buffer, drain task)
    assert st.worker is not None
    st.worker.stop()
    try:
        lost = [
            send(st, person("dave@customer.com"), [to], f"Lost {i}")
            for i, to in enumerate(["alice@acme.com", "bob@acme.com", "alice@acme.com"])
        ]
        time.sleep(0.5)
        redis_loses_everything(st.env["REDIS_URL"])  # ... and vanish
    finally:
        st.worker = WorkerProcess(st.env, st.backend.workdir, "main")

    for m in [first, *lost]:
        wait_for(lambda m=m: crm_emails(st, m["internetMessageId"]), 40, message=str(m))
    wait_for(lambda: "rebuilt after a Redis data loss" in st.worker.log(), 15, message="rebuild")
    for m in [first, *lost]:
        assert len(crm_emails(st, m["internetMessageId"])) == 1
