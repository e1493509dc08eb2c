"""The product's own code run in this process against the real database and simulators.

For tests that interleave workers step by step (a property-based test, lease fencing): the
Aurinko simulator and the reference CRM run on background threads here, users are rows with
simulator accounts, and a "worker" is a direct call of the function a Celery task would call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from brightsync.crypto import encrypt
from brightsync.db import session_scope
from brightsync.models import Base, User
from tests.conftest import Backend, apply_env
from tests.factories import make_org


class World:
    def __init__(self, aurinko_url: str, crm: Any, control: Any) -> None:
        self.aurinko_url = aurinko_url
        self.aurinko = control  # SandboxControl of the Aurinko simulator
        self.crm = crm  # CrmSandbox (open: no credentials needed)
        self.accounts: dict[int, int] = {}  # user id -> simulator account id

    def reset(self) -> None:
        self.aurinko.reset()
        self.crm.reset()
        self.accounts.clear()
        with session_scope() as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())

    def org(self, name: str = "Acme") -> int:
        return make_org(name, crm_url=self.crm.url)

    def user(self, org_id: int, local: str) -> int:
        token = f"tok-{local}-{org_id}"
        account = self.aurinko.add_account(f"{local}@acme.com", provider="imap", accessToken=token)
        with session_scope() as s:
            user = User(
                org_id=org_id,
                email=f"{local}@acme.com",
                aurinko_account_id=str(account["id"]),
                access_token_enc=encrypt(token),
                services=["email"],
            )
            s.add(user)
            s.flush()
            self.accounts[user.id] = int(account["id"])
            return user.id

    def crm_emails(self, rfc822: str) -> list[dict[str, Any]]:
        r = requests.get(
            f"{self.crm.url}/api/v1/emails", params={"rfc822MsgId": rfc822}, timeout=10
        )
        r.raise_for_status()
        body = r.json()
        return body if isinstance(body, list) else body.get("records") or body.get("items") or []


@contextmanager
def in_process_world(backend: Backend, page_size: int = 50) -> Iterator[World]:
    from brightsync.sandbox.aurinko import SandboxControl, create_aurinko_app
    from brightsync.sandbox.crm.harness import CrmSandbox
    from brightsync.sandbox.server import ServerThread

    server = ServerThread(create_aurinko_app(signing_secret=None, page_size=page_size)).start()
    crm = CrmSandbox(token=None).start()
    saved = backend.env.get("AURINKO_API_URL")
    apply_env({**backend.env, "AURINKO_API_URL": server.url})
    try:
        yield World(server.url, crm, SandboxControl(server.url))
    finally:
        crm.stop()
        server.stop()
        env = dict(backend.env)
        if saved is None:
            env.pop("AURINKO_API_URL", None)
        apply_env(env)
