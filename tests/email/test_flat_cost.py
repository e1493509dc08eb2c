"""Per-mailbox work that does not grow with the organisation: a sync page reads only its own
senders' mailboxes, the subscription check only the subscriptions due."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from brightsync.db import get_engine, session_scope
from brightsync.email.mailbox import mailboxes_of
from brightsync.models import Subscription, User, utcnow
from brightsync.subscriptions import VERIFY_EVERY, due_for_check
from tests.factories import make_org, make_user


def test_a_sync_page_reads_only_the_mailboxes_of_its_senders(backend):
    org_id = make_org("page")
    me = make_user(org_id, "me-page")
    colleague = make_user(org_id, "colleague-page")
    for i in range(5):
        make_user(org_id, f"bystander{i}-page")
    other_org = make_org("elsewhere")
    make_user(other_org, "customer-page", account_id="acct-elsewhere")
    page = [
        {"id": "1", "from": {"address": "Colleague-Page@ACME.com", "name": "C"}},
        {"id": "2", "from": {"address": "customer-page@acme.com"}},  # not in this org
        {"id": "3", "internetHeaders": [{"name": "From", "value": "Buyer <buyer@customer.com>"}]},
        "malformed",
    ]
    with session_scope() as s:
        found = mailboxes_of(s, org_id, me, page)
    assert found == {me: "me-page@acme.com", colleague: "colleague-page@acme.com"}

    if backend.name == "embedded":
        # Found through the (org_id, email) index, not by reading every user of the org.
        with get_engine().connect() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT id, email FROM user_account "
                    f"WHERE org_id = {org_id} AND email IN ('a@acme.com', 'b@acme.com')"
                )
            )
        assert "ix_user_account_org_email" in plan, plan


def _subscribed(org_id: int, name: str, state: str, checked_ago: timedelta | None) -> int:
    user_id = make_user(org_id, name)
    now = utcnow()
    with session_scope() as s:
        s.add(
            Subscription(
                user_id=user_id,
                service="email",
                resource="/email/messages",
                aurinko_id=f"sub-{name}",
                state=state,
                checked_at=None if checked_ago is None else now - checked_ago,
            )
        )
    return user_id


def test_the_subscription_check_reads_only_what_is_due(backend):
    org_id = make_org("subs")
    _subscribed(org_id, "fresh", "active", timedelta(hours=1))
    stale = _subscribed(org_id, "stale", "active", VERIFY_EVERY + timedelta(hours=1))
    never = _subscribed(org_id, "never", "active", None)
    pending = _subscribed(org_id, "pending", "pending", None)
    failed = _subscribed(org_id, "failed", "failed", None)
    broken = _subscribed(org_id, "broken", "error", timedelta(hours=1))
    dead = _subscribed(org_id, "dead", "pending", None)
    with session_scope() as s:
        s.execute(update(User).where(User.id == dead).values(mailbox_state="reauth_required"))
        mine = set(range(stale - 1, dead + 1))
        due = [u for u in due_for_check(s) if u in mine]
    assert due == sorted([stale, never, pending, failed, broken])
