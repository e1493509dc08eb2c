"""Fixtures of the Aurinko client tests: a running simulator, settings whose coordination
(rate budget) lives in a private SQLite database, clients with a fast retry policy,
and Aurinko's OpenAPI document as a validator of what they send."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from brightsync.clients.aurinko import AurinkoClient
from brightsync.clients.http import RetryPolicy
from brightsync.sandbox.aurinko import (
    WebhookRecorder,
)
from tests.conftest import SIGNING_SECRET  # the shared `aurinko` fixture signs with it
from tests.support.openapi import OpenApi, load_openapi

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


def reset_caches() -> None:
    from brightsync.process import reset_process_state

    reset_process_state()


def apply_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_caches()


def sqlite_env(tmp_path: Path) -> dict[str, str]:
    # REDIS_URL set empty (not removed) so a stray .env cannot bring Redis back in.
    return {
        "BRIGHTSYNC_INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/coordination.db",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "memory://",
    }


@pytest.fixture
def coordination_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Settings for this test: the rate budget kept in a private SQLite database."""
    from brightsync.db import get_engine
    from brightsync.models import Base

    env = sqlite_env(tmp_path)
    apply_env(monkeypatch, env)
    Base.metadata.create_all(get_engine())
    yield env
    reset_caches()  # the environment is restored right after; nothing cached may outlive it


@pytest.fixture
def make_client(aurinko, coordination_db) -> Callable[..., AurinkoClient]:
    """`make_client(account, **options)`: a client acting as that simulated account."""
    url, _ = aurinko

    def make(account: dict[str, Any], **options: Any) -> AurinkoClient:
        options.setdefault("policy", FAST)
        options.setdefault("timeout", (2.0, 5.0))
        return AurinkoClient.for_account(url, account["accessToken"], app_key="tests", **options)

    return make


@pytest.fixture
def receiver() -> Iterator[WebhookRecorder]:
    with WebhookRecorder(SIGNING_SECRET) as hook:
        yield hook


@pytest.fixture(scope="session")
def openapi() -> OpenApi:
    return load_openapi()
