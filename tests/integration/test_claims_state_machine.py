"""A property-based state machine over the claim protocol, on the real database.

Mailboxes receive and lose copies of messages, sync in any order, workers lease claims,
crash after the CRM write but before recording it, and hand claims over when a copy is gone.
Whatever the interleaving: one claim per message, never two CRM records for one message, and
once the dust settles every message still held somewhere is logged.
"""

from __future__ import annotations

from datetime import timedelta

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import update

from brightsync.db import session_scope
from brightsync.email import claims
from brightsync.models import Base, EmailClaim, EmailSighting, utcnow
from tests.factories import make_org, make_user

KEYS = [f"m{i}@customer.com" for i in range(2)]
USERS = 3


class ClaimProtocol(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        with session_scope() as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())
        self.org_id = make_org("o")
        self.users = [make_user(self.org_id, f"u{i}", account_id=f"sm-{i}") for i in range(USERS)]
        self.held = {u: set() for u in self.users}
        self.ever_held: set[str] = set()
        self.crm: dict[str, int] = {}  # message key -> CRM records created
        self.synced: dict[str, set[int]] = {}  # message key -> mailboxes that synced it

    # -- the world ------------------------------------------------------------------------
    @rule(user=st.integers(0, USERS - 1), key=st.sampled_from(KEYS))
    def deliver(self, user: int, key: str) -> None:
        self.held[self.users[user]].add(key)
        self.ever_held.add(key)

    @rule(user=st.integers(0, USERS - 1), key=st.sampled_from(KEYS))
    def copy_deleted(self, user: int, key: str) -> None:
        self.held[self.users[user]].discard(key)

    @rule(user=st.integers(0, USERS - 1))
    def sync(self, user: int) -> None:
        uid = self.users[user]
        with session_scope() as s:
            for key in sorted(self.held[uid]):
                self.synced.setdefault(key, set()).add(uid)
                claims.claim(
                    s,
                    org_id=self.org_id,
                    user_id=uid,
                    key=key,
                    provider_message_id=f"{uid}:{key}",
                    internet_message_id=key,
                    subject="s",
                    direction="received",
                )

    # -- workers --------------------------------------------------------------------------
    def _claim(self, key: str) -> EmailClaim | None:
        with session_scope() as s:
            return s.query(EmailClaim).filter_by(org_id=self.org_id, message_key=key).first()

    @rule(key=st.sampled_from(KEYS), crash=st.booleans())
    def work(self, key: str, crash: bool) -> None:
        c = self._claim(key)
        if c is None:
            return
        with session_scope() as s:
            if not claims.take_for_work(s, c.id):
                return
        if key not in self.held[c.owner_user_id]:
            with session_scope() as s:
                if claims.hand_over(s, c.id, "gone"):
                    s.execute(
                        update(EmailClaim).where(EmailClaim.id == c.id).values(lease_until=None)
                    )
            return
        # The writer's protocol: record the intent, look first on a repeat, create, store.
        with session_scope() as s:
            row = s.get(EmailClaim, c.id)
            row.state = "logging"
            row.attempts += 1
            attempts = row.attempts
        if not (attempts > 1 and self.crm.get(key)):
            self.crm[key] = self.crm.get(key, 0) + 1
        if crash:
            # The worker died after the CRM write: its lease lapses, another run repeats.
            with session_scope() as s:
                s.execute(
                    update(EmailClaim)
                    .where(EmailClaim.id == c.id)
                    .values(lease_until=utcnow() - timedelta(seconds=1))
                )
            return
        with session_scope() as s:
            row = s.get(EmailClaim, c.id)
            row.state, row.lease_until = "logged", None

    # -- what must always hold ------------------------------------------------------------
    @invariant()
    def one_claim_and_at_most_one_crm_record_per_message(self) -> None:
        if not hasattr(self, "org_id"):
            return
        with session_scope() as s:
            keys = [c.message_key for c in s.query(EmailClaim).filter_by(org_id=self.org_id)]
        assert len(keys) == len(set(keys))
        assert all(n == 1 for n in self.crm.values()), self.crm

    @invariant()
    def every_mailbox_that_synced_a_message_is_on_record(self) -> None:
        if not hasattr(self, "org_id"):
            return
        with session_scope() as s:
            for key, users in self.synced.items():
                c = s.query(EmailClaim).filter_by(org_id=self.org_id, message_key=key).one()
                seen = {c.owner_user_id} | {
                    x.user_id
                    for x in s.query(EmailSighting).filter_by(org_id=self.org_id, message_key=key)
                }
                assert users <= seen, (key, users, seen)

    def teardown(self) -> None:
        if not hasattr(self, "org_id"):
            return
        # Settle: everyone syncs, every claim is worked until nothing changes.
        for _ in range(6):
            for i in range(USERS):
                self.sync(i)
            for key in KEYS:
                self.work(key, crash=False)
        held_now = set().union(*self.held.values())
        for key in held_now:
            c = self._claim(key)
            assert c is not None and c.state == "logged", (key, c and c.state)
            assert self.crm[key] == 1


def test_claim_protocol_state_machine(backend):
    run_state_machine_as_test(
        ClaimProtocol,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
