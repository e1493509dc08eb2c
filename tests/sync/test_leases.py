"""Fenced leases, hand-over, the sweepers and resumable first syncs, through the real functions
on SQLite and on PostgreSQL (the worker-process fault test is test_crash_recovery.py)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from brightsync.db import session_scope
from brightsync.domains import run_service
from brightsync.email import claim_leases, claims
from brightsync.email import mailbox as email_sync
from brightsync.models import EmailClaim, SyncState, utcnow
from brightsync.sync import leases, scheduler
from tests.factories import make_org, make_user
from tests.support.inprocess import in_process_world

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}


def _state(name: str) -> tuple[int, int, int]:
    org_id = make_org(name)
    user_id = make_user(org_id, name)
    with session_scope() as s:
        state_id = scheduler.ensure_state(s, user_id, "email").id
    return org_id, user_id, state_id


def _lapse(model, row_id: int | None = None) -> None:
    """Time passes beyond the lease: the holder stalled (or died) and stopped renewing."""
    stmt = update(model).values(lease_until=utcnow() - timedelta(seconds=1))
    if row_id is not None:
        stmt = stmt.where(model.id == row_id)
    with session_scope() as s:
        s.execute(stmt.where(model.lease_until.is_not(None)))


def test_a_fenced_out_run_cannot_overwrite_the_new_owner(backend):
    org_id, user_id, state_id = _state("fence")
    stale = scheduler.try_start(state_id)
    assert stale is not None
    scheduler.checkpoint(state_id, stale, updated_token="stale-1")
    with session_scope() as s:
        stale_claim = claims.claim(
            s,
            org_id=org_id,
            user_id=user_id,
            key="k1",
            provider_message_id="p1",
            internet_message_id="<k1>",
            subject="s",
            direction="received",
            lease_owner=stale,
        ).claim_id

    _lapse(SyncState, state_id)
    _lapse(EmailClaim, stale_claim)
    fresh = scheduler.try_start(state_id)
    assert fresh is not None and fresh != stale
    scheduler.checkpoint(state_id, fresh, updated_token="fresh-1", resume_token="fresh-page")
    with session_scope() as s:
        assert claim_leases.take_for_work(s, stale_claim, fresh)

    # The stalled run wakes up: every change it tries is refused, nothing of the new owner's
    # changes, and its heartbeat reports the loss.
    with pytest.raises(leases.LeaseLost):
        scheduler.checkpoint(state_id, stale, updated_token="stale-2", resume_token=None)
    with pytest.raises(leases.LeaseLost):
        scheduler.renew(state_id, stale, {"messages": 9})
    assert scheduler.finish(state_id, stale, counters={"messages": 9}) is False
    with pytest.raises(leases.LeaseLost), session_scope() as s:
        claim_leases.held(s, stale_claim, stale).state = "logged"
    heartbeat = leases.Heartbeat([lambda: leases.renew(SyncState, stale, row_id=state_id)])
    heartbeat.beat()
    with pytest.raises(leases.LeaseLost):
        heartbeat.check()

    with session_scope() as s:
        st = s.get(SyncState, state_id)
        assert (st.updated_token, st.resume_token) == ("fresh-1", "fresh-page")
        assert (st.lease_owner, st.state, st.runs, st.counters) == (fresh, "running", 0, {})
        c = s.get(EmailClaim, stale_claim)
        assert (c.lease_owner, c.state) == (fresh, "claimed")
        assert claim_leases.held(s, stale_claim, fresh) is not None
    # The rightful owner's heartbeat keeps working.
    live = leases.Heartbeat([lambda: leases.renew(SyncState, fresh, row_id=state_id)])
    live.beat()
    live.check()
    assert scheduler.finish(state_id, fresh, counters={"messages": 1}) is False


def test_a_finished_run_hands_over_at_once_and_a_busy_task_does_not_wait(backend):
    _, user_id, state_id = _state("handover")
    with session_scope() as s:
        assert scheduler.request_run(s, user_id, "email")
    running = scheduler.try_start(state_id, requested_only=True)
    assert running is not None
    with session_scope() as s:  # a notification during the run queues the follow-up
        assert scheduler.request_run(s, user_id, "email")
    started = time.monotonic()
    assert run_service(user_id, "email", requested_only=True)["status"] == "busy"
    assert time.monotonic() - started < 1.0  # it ends; it neither sleeps nor re-queues
    assert scheduler.finish(state_id, running) is True  # the caller publishes the follow-up now
    follow_up = scheduler.try_start(state_id, requested_only=True)
    assert follow_up is not None
    assert scheduler.finish(state_id, follow_up) is False  # nothing more pending
    # A duplicate of a task that already ran finds nothing to do.
    assert scheduler.try_start(state_id, requested_only=True) is None


def test_the_sweepers_republish_lost_work_once_and_leave_live_work_alone(backend):
    org_id, lost_user, lost_state = _state("lost")
    _, busy_user, busy_state = _state("busy")
    _, later_user, later_state = _state("later")
    long_ago = utcnow() - timedelta(minutes=2)
    with session_scope() as s:
        for uid in (lost_user, busy_user):
            scheduler.request_run(s, uid, "email", now=long_ago)
        scheduler.request_run(s, later_user, "email", due=utcnow() + timedelta(minutes=5))
    assert scheduler.try_start(busy_state) is not None  # a live run, then one more requested
    with session_scope() as s:
        scheduler.request_run(s, busy_user, "email", now=long_ago)

    # A run that died mid-way (lease lapsed, nothing new pending) must still finish its delta.
    _, dead_user, dead_state = _state("dead")
    dead_run = scheduler.try_start(dead_state)
    _lapse(SyncState, dead_state)

    # Only this test's rows count: the session's database may hold earlier tests' runs.
    mine = {lost_user, busy_user, later_user, dead_user}

    def republished(**kwargs) -> list[tuple[int, str]]:
        return sorted(d for d in scheduler.due_for_republish(**kwargs) if d[0] in mine)

    assert republished() == [(lost_user, "email"), (dead_user, "email")]
    assert republished() == []  # re-marked: not republished again at once
    with pytest.raises(leases.LeaseLost):  # the dead run, should it wake up, is fenced out
        scheduler.checkpoint(dead_state, dead_run, updated_token="zombie")
    assert scheduler.try_start(dead_state, requested_only=True) is not None
    assert republished(now=utcnow() + timedelta(seconds=40)) == [(lost_user, "email")]

    ids = _open_claims(org_id, lost_user, "c", owner="dead-worker")
    with session_scope() as s:
        assert set(claim_leases.due_for_sweep(s, "sweeper-0")) & set(ids) == set()  # leases live
    _lapse(EmailClaim, ids[0])
    _lapse(EmailClaim, ids[1])
    with session_scope() as s:
        assert [i for i in claim_leases.due_for_sweep(s, "sweeper-1") if i in ids] == ids[:2]
    with session_scope() as s:  # leased to the published task
        assert set(claim_leases.due_for_sweep(s, "sweeper-2")) & set(ids) == set()
        assert {c.lease_owner for c in s.query(EmailClaim).filter(EmailClaim.id.in_(ids))} == {
            "sweeper-1",
            "dead-worker",
        }


class WorkerDied(BaseException):
    """A worker killed at this line: nothing after it runs (but `finally` blocks do)."""


def _open_claims(org_id: int, user_id: int, prefix: str, owner: str, count: int = 3) -> list[int]:
    """`count` received emails claimed by `user_id`, leased to `owner`; their claim ids."""
    with session_scope() as s:
        return [
            claims.claim(
                s,
                org_id=org_id,
                user_id=user_id,
                key=f"{prefix}{i}",
                provider_message_id=f"p{i}",
                internet_message_id=f"<{prefix}{i}>",
                subject="s",
                direction="received",
                lease_owner=owner,
            ).claim_id
            for i in range(count)
        ]


def _die_on_page(monkeypatch, page: int) -> None:
    real = email_sync.handle_page
    calls = {"n": 0}

    def handle_page(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == page:
            raise WorkerDied
        return real(*args, **kwargs)

    monkeypatch.setattr(email_sync, "handle_page", handle_page)


def test_a_large_first_sync_resumes_where_it_died_and_restarts_from_a_dead_position(
    backend, monkeypatch
):
    with in_process_world(backend, page_size=5) as world:
        world.reset()
        world.crm.seed(contacts=[DAVE])
        org_id = world.org()
        alice, bob = world.user(org_id, "alice"), world.user(org_id, "bob")
        sent = [
            world.aurinko.mail(
                **{
                    "from": {"address": "dave@customer.com"},
                    "to": [{"address": "alice@acme.com"}, {"address": "bob@acme.com"}],
                    "subject": f"order {i}",
                    "body": "x",
                    "bodyType": "text",
                }
            )["internetMessageId"]
            for i in range(12)
        ]

        # Both die while handling the third of three pages (5 + 5 + 2 messages).
        for uid in (alice, bob):
            _die_on_page(monkeypatch, 3)
            with pytest.raises(WorkerDied):
                run_service(uid, "email")
            monkeypatch.undo()
        _lapse(SyncState)
        _lapse(EmailClaim)
        with session_scope() as s:
            assert all(st.resume_token for st in s.query(SyncState))

        # Alice resumes at the third page: two messages read, not twelve.
        result = run_service(alice, "email")
        assert result["counters"]["resumed"] == 1
        assert result["counters"]["messages"] == 2
        # Bob's saved position died meanwhile: he re-reads cleanly from the start.
        world.aurinko.expire_tokens(world.accounts[bob])
        result = run_service(bob, "email")
        assert result["counters"]["resume_restarts"] == 1
        assert result["counters"]["token_restarts"] == 1
        assert result["counters"]["messages"] == 12

        # Claims the dead runs left open are finished by the sweep; each email once.
        with session_scope() as s:
            owner = leases.new_owner()
            due = claim_leases.due_for_sweep(s, owner, now=utcnow() + timedelta(minutes=1))
        from brightsync.email.finish import finish_claims

        finish_claims(due, owner)
        with session_scope() as s:
            states = [c.state for c in s.query(EmailClaim)]
            st = s.query(SyncState).filter_by(user_id=alice).one()
            assert st.resume_token is None and st.lease_owner is None
        assert states == ["logged"] * 12
        assert [len(world.crm_emails(m)) for m in sent] == [1] * 12


def test_a_message_whose_last_copy_vanished_after_a_lost_create_is_found_in_the_crm(backend):
    """Every copy gone after a create that may have gone through: look it up, don't orphan."""
    with in_process_world(backend) as world:
        world.reset()
        world.crm.seed(contacts=[DAVE])
        org_id = world.org()
        alice = world.user(org_id, "alice")

        def deliver(subject: str) -> tuple[str, str]:
            sent = world.aurinko.mail(
                **{
                    "from": {"address": "dave@customer.com"},
                    "to": [{"address": "alice@acme.com"}],
                    "subject": subject,
                    "body": "x",
                    "bodyType": "text",
                }
            )
            return sent["internetMessageId"], sent["copies"][str(world.accounts[alice])]

        # The CRM stores the email and its answer is lost; the look-up after it fails too, so
        # the claim stays open with a create that may have happened.
        stored, stored_copy = deliver("stored, answer lost")
        world.crm.fault("/api/v1/emails", 502, method="POST", after_write=True)
        world.crm.fault("/api/v1/emails", 400, method="GET", match=stored.strip("<>"))
        run_service(alice, "email")
        # A second one is refused before anything is stored (try again in two minutes).
        refused, refused_copy = deliver("refused before storing")
        world.crm.fault("/api/v1/emails", 429, method="POST", retry_after=120)
        run_service(alice, "email")
        with session_scope() as s:
            open_claims = {c.internet_message_id: c for c in s.query(EmailClaim)}
        assert {c.state for c in open_claims.values()} == {"logging"}
        assert all(c.attempts == 1 for c in open_claims.values())
        assert len(world.crm_emails(stored)) == 1 and world.crm_emails(refused) == []

        # Alice deletes both (the only copies); the sweeper's retry finds them gone.
        for copy in (stored_copy, refused_copy):
            world.aurinko.delete_message(world.accounts[alice], copy)
        _lapse(EmailClaim)
        owner = leases.new_owner()
        with session_scope() as s:
            due = claim_leases.due_for_sweep(s, owner, now=utcnow() + timedelta(minutes=5))
        from brightsync.email.finish import finish_claims

        finish_claims(due, owner)
        with session_scope() as s:
            outcome = {
                f"<{c.internet_message_id}>": (c.state, c.crm_email_id) for c in s.query(EmailClaim)
            }
        in_crm = world.crm_emails(stored)
        assert len(in_crm) == 1
        assert outcome[stored] == ("logged", str(in_crm[0]["id"]))
        assert outcome[refused] == ("orphaned", None)
        assert world.crm_emails(refused) == []


def test_a_run_passes_only_claims_it_still_holds_to_a_task(backend):
    org_id, user_id, _ = _state("pass")
    run, other, task = leases.new_owner(), leases.new_owner(), leases.new_owner()
    ids = _open_claims(org_id, user_id, "pass-", owner=run)
    # The run's lease on the last claim lapsed and another worker took it meanwhile.
    _lapse(EmailClaim, ids[2])
    with session_scope() as s:
        assert claim_leases.take_for_work(s, ids[2], other)
    with session_scope() as s:
        assert claim_leases.pass_lease(s, ids, run, task) == ids[:2]
    with session_scope() as s:
        for claim_id in ids[:2]:
            assert claim_leases.held(s, claim_id, task).lease_until > utcnow()
            with pytest.raises(leases.LeaseLost):
                claim_leases.held(s, claim_id, run)
        assert claim_leases.held(s, ids[2], other).id == ids[2]


def test_a_run_outside_a_worker_finishes_every_email_it_owns_itself(backend):
    """`brightsync sync` (run_service in this process) hands nothing out: no worker may be there."""
    with in_process_world(backend) as world:
        world.reset()
        world.crm.seed(contacts=[DAVE])
        org_id = world.org()
        alice = world.user(org_id, "alice")
        sent = [
            world.aurinko.mail(
                **{
                    "from": {"address": "dave@customer.com"},
                    "to": [{"address": "alice@acme.com"}],
                    "subject": f"order {i}",
                    "body": "x",
                    "bodyType": "text",
                }
            )["internetMessageId"]
            for i in range(25)  # more than BRIGHTSYNC_EMAIL_CHUNK (20)
        ]
        counters = run_service(alice, "email")["counters"]
        assert counters["logged"] == 25 and "handed_out" not in counters
        assert [len(world.crm_emails(m)) for m in sent] == [1] * 25
