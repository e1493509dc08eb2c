"""Rows created straight in the database, for tests that need an org and users but no API."""

from __future__ import annotations

from brightsync.crypto import encrypt, encrypt_json
from brightsync.db import session_scope
from brightsync.models import Organisation, User


def make_org(name: str = "Acme", crm_url: str = "http://crm") -> int:
    with session_scope() as s:
        org = Organisation(
            name=name,
            domains=["acme.com"],
            crm_base_url=crm_url,
            crm_auth_type="bearer",
            crm_secret_enc=encrypt_json({"token": "t"}),
            settings={},
        )
        s.add(org)
        s.flush()
        return org.id


def make_user(org_id: int, local: str, account_id: str | None = None) -> int:
    with session_scope() as s:
        user = User(
            org_id=org_id,
            email=f"{local}@acme.com",
            aurinko_account_id=account_id or f"acct-{local}",
            access_token_enc=encrypt("tok"),
            services=["email"],
        )
        s.add(user)
        s.flush()
        return user.id
