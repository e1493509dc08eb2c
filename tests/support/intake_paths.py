"""The webhook's intake paths as test backends: embedded (SQLite + SQL broker), PostgreSQL's
database path, and PostgreSQL + Redis (the Redis buffer drained by a task)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import apply_env, clean_environ, destroy_backend, make_backend

PATHS = {
    "embedded": ("embedded", {}),
    "postgres, database path": ("postgres", {"BRIGHTSYNC_WEBHOOK_INTAKE": "database"}),
    "postgres + redis": ("postgres", {}),
}


@contextmanager
def intake_path(param: str) -> Iterator[dict[str, str]]:
    """The env of a fresh backend for the intake path `param` (a key of PATHS), migrated,
    with one email user (account 42); the process's own environment is restored after."""
    from brightsync.migrate import upgrade
    from brightsync.process import reset_process_state
    from tests.factories import make_org, make_user

    name, extra = PATHS[param]
    saved = dict(os.environ)
    backend = make_backend(name)
    try:
        os.environ.clear()
        os.environ.update(clean_environ())
        env = {**backend.env, **extra}
        apply_env(env)
        upgrade()
        make_user(make_org(), "alice", account_id="42")
        yield env
    finally:
        reset_process_state()  # buffered metrics go to this backend's store before it goes
        destroy_backend(backend)
        os.environ.clear()
        os.environ.update(saved)
        reset_process_state()


def redis_path(env: dict[str, str]) -> bool:
    """True where webhooks go to the Redis buffer (a drain task writes the database)."""
    return bool(env.get("REDIS_URL")) and env.get("BRIGHTSYNC_WEBHOOK_INTAKE") != "database"
