"""Which addresses are the organisation's CRM users, by what the connector offers: its
`GET /users/lookup` (the `users` capability), else the users BrightSync already knows (the
org's registered mailboxes and their `crmUserId`), else none (attendees go by address only).

Shared by the calendar (internal attendees get their `userId`) and tasks (the owner's
timezone). A lookup refused with 404/405/501 marks `users` not offered and falls back, so a
connector without it never fails a write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from brightsync.clients.crm import CrmClient, normalise_email
from brightsync.clients.http import AuthError, FinalError
from brightsync.crm.matching import contact_addresses
from brightsync.db import session_scope
from brightsync.models import User

log = logging.getLogger(__name__)


def user_addresses(user: dict[str, Any]) -> list[str]:
    """The addresses of a CRM user record (`emailAddresses`, else its `email`)."""
    return contact_addresses(user) or [normalise_email(str(user.get("email") or ""))]


def by_address(users: Iterable[Any], wanted: set[str]) -> dict[str, dict[str, Any]]:
    """address -> the first user record holding it, for the wanted addresses (pure)."""
    out: dict[str, dict[str, Any]] = {}
    for user in users:
        if not isinstance(user, dict) or user.get("id") in (None, ""):
            continue
        for address in user_addresses(user):
            if address in wanted:
                out.setdefault(address, user)
    return out


def registered_users(org_id: int, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """address -> {"id": crmUserId} of the org's registered mailboxes that have one."""
    if not wanted:
        return {}
    with session_scope() as s:
        rows = s.execute(
            select(User.email, User.crm_user_id).where(
                User.org_id == org_id,
                User.crm_user_id.is_not(None),
                func.lower(User.email).in_(sorted(wanted)),
            )
        ).all()
    return {normalise_email(email): {"id": str(crm_id)} for email, crm_id in rows if crm_id}


def crm_users(crm: CrmClient, org_id: int, addresses: Iterable[str]) -> dict[str, dict[str, Any]]:
    """address (lower-cased) -> CRM user record, for those of `addresses` that are the org's
    CRM users: asked of the connector where it offers a user lookup, else known from the
    org's registered mailboxes; an address neither knows is missing."""
    wanted = {normalise_email(a) for a in addresses if a}
    if not wanted:
        return {}
    if crm.supports("users"):
        try:
            return by_address(crm.lookup_users(sorted(wanted)), wanted)
        except AuthError:
            raise
        except FinalError as exc:
            crm.discovery.learned_unsupported("users", exc.status, (404, 405, 501))
            log.warning("CRM user lookup refused (%s): using the registered users", exc.status)
    return registered_users(org_id, wanted)
