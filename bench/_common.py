"""What the benchmarks share: a throw-away SQLite setup, the bundled simulators on local
ports, their call counters, and an organisation with one user per simulator account."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

CRM_TOKEN = "bench-token"


def configure(workdir: Path, aurinko_url: str) -> None:
    """Point BrightSync at a fresh SQLite database and broker in `workdir`, rate limits off."""
    os.environ.update(
        {
            "BRIGHTSYNC_INSTANCE_PATH": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir}/bench.db",
            "CELERY_BROKER_URL": f"sqla+sqlite:///{workdir}/broker.db",
            "AURINKO_API_URL": aurinko_url,
            "BRIGHTSYNC_ENCRYPTION_KEY": "kR7y0L9b3o2S1mW6dQq1vN8d8V3Gm0sH5bq2yJ8xY0c=",
            "AURINKO_RATE_PER_SECOND": "100000",
            "BRIGHTSYNC_CRM_RATE_PER_SECOND": "100000",
        }
    )
    os.environ.pop("REDIS_URL", None)
    from brightsync import coordination, crypto, db
    from brightsync.config import reset_settings

    reset_settings()
    db.reset_engine()
    coordination.reset_coordinator()
    crypto.reset_keys()
    from brightsync.migrate import upgrade

    upgrade()


@contextmanager
def simulators(page_size: int, crm_token: str = CRM_TOKEN) -> Iterator[tuple[str, str]]:
    """The Aurinko and CRM simulators over real HTTP: their base URLs, stopped on exit."""
    from brightsync.sandbox.aurinko import create_aurinko_app
    from brightsync.sandbox.crm import create_crm_app
    from brightsync.sandbox.server import ServerThread

    aurinko = ServerThread(create_aurinko_app(page_size=page_size)).start()
    crm = ServerThread(create_crm_app(token=crm_token)).start()
    try:
        yield aurinko.url, crm.url
    finally:
        aurinko.stop()
        crm.stop()


def reset_simulators(aurinko: str, crm: str, crm_token: str = CRM_TOKEN) -> None:
    """Both simulators emptied: no accounts, mail, events or CRM records."""
    auth = {"Authorization": f"Bearer {crm_token}"}
    requests.post(aurinko + "/_control/reset", timeout=30).raise_for_status()
    requests.post(crm + "/_control/reset", timeout=30, headers=auth).raise_for_status()


def add_accounts(aurinko: str, n: int, provider: str) -> list[dict[str, Any]]:
    """Mailboxes user0@acme.com .. user<n-1>@acme.com on the Aurinko simulator."""
    return [
        requests.post(
            aurinko + "/_control/accounts",
            timeout=30,
            json={"email": f"user{i}@acme.com", "name": f"User {i}", "provider": provider},
        ).json()
        for i in range(n)
    ]


def reset_stats(aurinko: str, crm: str) -> None:
    """Start both simulators' call counters from zero (after the scenario's set-up)."""
    requests.post(aurinko + "/_control/stats/reset", timeout=30)
    requests.post(crm + "/_control/stats/reset", timeout=30)


def stats(url: str) -> dict[str, Any]:
    """A simulator's call counters: `total` and `byOperation`."""
    return requests.get(url + "/_control/stats", timeout=30).json()


def wipe_tables() -> None:
    """Every BrightSync row gone, so each round starts from a first sync."""
    from brightsync.db import session_scope
    from brightsync.models import Base

    with session_scope() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())


def seed_crm(crm: str, records: dict[str, list[dict[str, Any]]], timeout: float = 30) -> None:
    """Bulk-insert records into the reference CRM ({"contacts": [...], "companies": [...]})."""
    requests.post(crm + "/_control/seed", timeout=timeout, json=records).raise_for_status()


def new_org(session: Any, crm: str, crm_token: str = CRM_TOKEN) -> Any:
    """Organisation "Acme" (acme.com) on this CRM with a bearer token, flushed (has its id)."""
    from brightsync.crypto import encrypt_json
    from brightsync.models import Organisation

    org = Organisation(
        name="Acme",
        domains=["acme.com"],
        crm_base_url=crm,
        crm_auth_type="bearer",
        crm_secret_enc=encrypt_json({"token": crm_token}),
        settings={},
    )
    session.add(org)
    session.flush()
    return org


def add_org(
    crm: str,
    accounts: list[dict[str, Any]],
    services: list[str],
    *,
    crm_token: str = CRM_TOKEN,
    crm_user_ids: bool = False,
) -> list[int]:
    """Organisation "Acme" (acme.com) on this CRM with one user per account; their ids.
    With `crm_user_ids`, the i-th user is CRM user ``u<i>``."""
    from brightsync.crypto import encrypt
    from brightsync.db import session_scope
    from brightsync.models import User

    with session_scope() as s:
        org = new_org(s, crm, crm_token)
        users = [
            User(
                org_id=org.id,
                email=acct["email"],
                crm_user_id=f"u{i}" if crm_user_ids else None,
                aurinko_account_id=str(acct["id"]),
                access_token_enc=encrypt(acct["accessToken"]),
                services=list(services),
            )
            for i, acct in enumerate(accounts)
        ]
        s.add_all(users)
        s.flush()
        return [u.id for u in users]
