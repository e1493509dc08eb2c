"""The safety sync reads only the services due, through an index, and skips paused ones."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from brightsync.db import get_engine, session_scope
from brightsync.domains import SERVICES
from brightsync.models import User, utcnow
from brightsync.sync import scheduler
from brightsync.sync.sweeps import SAFETY_SYNC_QUIET, quiet_services, quiet_services_query
from tests.factories import make_org, make_user


def _service(org_id: int, name: str, *, synced_ago: timedelta | None, **flags) -> int:
    user_id = make_user(org_id, name)
    with session_scope() as s:
        st = scheduler.ensure_state(s, user_id, "email")
        st.last_sync_at = None if synced_ago is None else utcnow() - synced_ago
        st.paused = flags.get("service_paused", False)
        user = s.get(User, user_id)
        user.paused = flags.get("user_paused", False)
        user.mailbox_state = flags.get("mailbox_state", "ok")
    return user_id


def test_only_quiet_unpaused_services_are_due(backend):
    org_id = make_org("safety")
    quiet = _service(org_id, "quiet", synced_ago=timedelta(hours=2))
    never = _service(org_id, "never", synced_ago=None)
    _service(org_id, "recent", synced_ago=timedelta(minutes=1))
    _service(org_id, "paused", synced_ago=timedelta(hours=2), user_paused=True)
    _service(org_id, "service-paused", synced_ago=timedelta(hours=2), service_paused=True)
    _service(org_id, "dead", synced_ago=timedelta(hours=2), mailbox_state="reauth_required")
    dropped = _service(org_id, "dropped", synced_ago=timedelta(hours=2))
    with session_scope() as s:  # a service the user no longer has keeps its row
        s.execute(update(User).where(User.id == dropped).values(services=["calendar"]))

    mine = {quiet, never, dropped} | set(range(quiet, dropped + 1))
    cutoff = utcnow() - SAFETY_SYNC_QUIET
    with session_scope() as s:
        due = [d for d in quiet_services(s, cutoff, SERVICES) if d[0] in mine]
    assert due == [(quiet, "email"), (never, "email")]

    if backend.name == "embedded":
        # The due services are found through the index, not by reading every state.
        query = quiet_services_query(cutoff, SERVICES).compile(
            get_engine(), compile_kwargs={"literal_binds": True}
        )
        with get_engine().connect() as conn:
            plan = " ".join(
                str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")
            )
        assert "ix_sync_state_last_sync" in plan, plan


def test_the_upgrade_gives_every_registered_service_its_state(unit_env, tmp_path):
    """Users registered before 0010 that never synced are still found by the safety sync."""
    from alembic.script import ScriptDirectory

    from brightsync.migrate import alembic_config, upgrade
    from tests.conftest import apply_env

    before = ScriptDirectory.from_config(alembic_config()).get_revision("0010").down_revision
    apply_env({**unit_env, "DATABASE_URL": f"sqlite:///{tmp_path}/before.db"})
    upgrade(str(before))
    org_id = make_org("before")
    fresh = make_user(org_id, "fresh")
    synced = make_user(org_id, "synced")
    with session_scope() as s:
        s.execute(update(User).where(User.id == fresh).values(services=["email", "calendar"]))
        scheduler.ensure_state(s, synced, "email").last_sync_at = utcnow()
    upgrade()
    with session_scope() as s:
        due = quiet_services(s, utcnow() - SAFETY_SYNC_QUIET, SERVICES)
    assert due == [(fresh, "calendar"), (fresh, "email")]
