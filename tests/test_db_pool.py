"""The PostgreSQL pool pings only connections that sat idle, and replaces a dead one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL, _unavailable

pytestmark = pytest.mark.integration  # a real PostgreSQL


def _kill(pid: int) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()


def _pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()


def test_only_idle_connections_are_pinged_and_a_dead_idle_one_is_replaced(monkeypatch):
    from brightsync import db

    engine = db.make_engine(PG_ADMIN_URL)
    try:
        first = _pid(engine)
    except Exception as exc:  # noqa: BLE001
        _unavailable("PostgreSQL", exc)
    try:
        # Used again at once: trusted without a ping, so a connection the server killed in
        # between fails that one statement (and the pool drops it)...
        _kill(first)
        with pytest.raises(sa.exc.OperationalError):
            _pid(engine)
        second = _pid(engine)
        assert second != first
        # ...while one that sat idle is pinged first, found dead and replaced unseen.
        monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
        _kill(second)
        third = _pid(engine)
        assert third not in (first, second)
    finally:
        engine.dispose()
