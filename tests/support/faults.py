"""Infrastructure faults for tests: Redis losing its data, its clients cut off, PostgreSQL
dropping every connection. Each touches only the test's own Redis db number and database:
other test processes share the servers."""

from __future__ import annotations

import sqlalchemy as sa

OWNER_KEY = "brightsync:test-owner"  # tests/conftest.py's claim on the db number


def _client(url: str):  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis.from_url(url, socket_timeout=5)


def flush_redis(url: str) -> None:
    """FLUSHDB on this db number (a restart without persistence), keeping the test's claim
    on the db number so no parallel run takes it meanwhile."""
    client = _client(url)
    marker, ttl = client.get(OWNER_KEY), client.ttl(OWNER_KEY)
    client.flushdb()
    if marker is not None:
        client.set(OWNER_KEY, marker, ex=max(ttl, 600))
    client.close()


def kill_redis_clients(url: str) -> int:
    """Drop every client connection on this db number (as a restart does); how many.

    A blocked BRPOP on several queues reports the db it selected, so the filter holds for
    kombu's consumers too."""
    client = _client(url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    me = client.client_id()
    ids = [c["id"] for c in client.client_list() if int(c.get("db", -1)) == db and c["id"] != me]
    killed = 0
    for cid in ids:
        try:
            killed += int(client.execute_command("CLIENT", "KILL", "ID", cid) or 0)
        except Exception:  # noqa: BLE001 - it went away by itself meanwhile
            pass
    client.close()
    return killed


def redis_loses_everything(url: str) -> None:
    flush_redis(url)
    kill_redis_clients(url)


def kill_pg_connections(database_url: str) -> int:
    """pg_terminate_backend for every connection to this test's database (not the server's
    others); how many."""
    url = sa.engine.make_url(database_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": url.database},
                ).all()
            )
    finally:
        admin.dispose()
