"""An operator's "sync now" on a run stuck `queued` (its task lost) gets a run (issue 20).

A broker that loses its data leaves sync_state marked pending with no task behind it; every
webhook since is coalesced into that lost task. "Sync now" must publish anyway, so the mail
that arrived meanwhile is logged within seconds (no beat runs here: no sweeper rescues it).
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import update

from tests.ops.test_operations import cli
from tests.support.helpers import (
    crm_emails,
    decision,
    make_org,
    make_user,
    person,
    seed_contacts,
    send,
    sync_now,
    wait_decided,
    wait_idle,
)

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}


def strand(user_id: int, pending_since_offset: timedelta = timedelta(0)) -> None:
    """Leave the email run queued as a lost task would: pending, no lease, nothing published."""
    from brightsync.db import session_scope
    from brightsync.models import SyncState, utcnow

    with session_scope() as s:
        s.execute(
            update(SyncState)
            .where(SyncState.user_id == user_id, SyncState.service == "email")
            .values(pending_since=utcnow() + pending_since_offset, state="queued")
        )


def test_sync_now_republishes_a_run_stuck_queued(clean_stack):
    st = clean_stack
    org_id = make_org(st)
    uid = make_user(st, org_id, "alice@acme.com")["id"]
    seed_contacts(st, DAVE)
    first = send(st, person("dave@customer.com"), ["alice@acme.com"], "First")
    wait_decided(st, org_id, first["internetMessageId"])
    wait_idle(st, [uid])

    # Stuck: the webhook for this mail is coalesced into the lost run, so it stays unread.
    strand(uid)
    stuck = send(st, person("dave@customer.com"), ["alice@acme.com"], "While stuck")
    time.sleep(2)
    assert decision(st, org_id, stuck["internetMessageId"]) is None

    sync_now(st, uid)
    wait_decided(st, org_id, stuck["internetMessageId"], timeout=15)

    # Stuck on a retry due in ten minutes: the shell's "sync now" runs it now, not then.
    wait_idle(st, [uid])
    strand(uid, timedelta(minutes=10))
    later = send(st, person("dave@customer.com"), ["alice@acme.com"], "Retry due later")
    time.sleep(2)
    assert decision(st, org_id, later["internetMessageId"]) is None
    assert cli(st, "sync", str(uid), "--queue")["services"] == {"email": "enqueued"}
    wait_decided(st, org_id, later["internetMessageId"], timeout=15)

    for msg in (first, stuck, later):
        assert len(crm_emails(st, msg["internetMessageId"])) == 1
