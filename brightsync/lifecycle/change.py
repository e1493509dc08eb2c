"""Changing a registered user: its services, its CRM user and its own settings.

A service turned off stops at once: its subscription goes (at Aurinko by a retried task), a
queued run is dropped and a running one loses its lease; the email claims it still had to
finish pass to colleagues' copies (`email.departure`); its cursors stay, so turning it on
again resumes where it stopped. A service turned on gets its subscription and a run at once.
Per-user settings are overrides of the organisation's, deep-merged over them in every run
(`crm.context.load_context`), validated with the organisation's schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from brightsync import subscriptions
from brightsync.clients.aurinko import SERVICE_RESOURCES
from brightsync.crm.settings import user_overrides
from brightsync.db import session_scope
from brightsync.email import departure
from brightsync.email.queue import publish_after_commit
from brightsync.models import Organisation, Subscription, User
from brightsync.ops.actions import ActionError, is_paused
from brightsync.sync import scheduler
from brightsync.sync.queue import publish_intake, publish_subscriptions


@dataclass
class Changes:
    """What a PATCH did, for its answer and for the work after the commit."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    queued: dict[str, str] = field(default_factory=dict)
    unsubscribe: list[str] = field(default_factory=list)
    token_enc: str = ""
    start: list[str] = field(default_factory=list)  # services to run now (not paused)


def diff_services(old: list[str], new: list[str]) -> tuple[list[str], list[str]]:
    """(turned on, turned off), each in the order given."""
    return [s for s in new if s not in old], [s for s in old if s not in new]


def change_user(user_id: int, data: dict[str, Any]) -> Changes:
    """Apply `services`, `crmUserId` and `settings` (overrides: merged into the stored ones,
    null removes one) to the user. ActionError 404 for a missing user; marshmallow's
    ValidationError (naming the key) for settings the organisation's schema refuses."""
    out = Changes()
    with session_scope() as s:
        user = s.get(User, user_id, with_for_update=True)
        if user is None:
            raise ActionError("user not found", 404)
        if "settings" in data:
            org = s.get(Organisation, user.org_id)
            patch = data["settings"]
            merged = {} if patch is None else user_overrides(user.settings, patch, org.settings)
            user.settings = merged or None
        if "crmUserId" in data:
            user.crm_user_id = data["crmUserId"]
        if "services" in data:
            _services(s, user, list(dict.fromkeys(data["services"])), out)
        out.token_enc = user.access_token_enc
    subscriptions.unsubscribe(out.token_enc, out.unsubscribe)
    if out.added:
        publish_subscriptions(user_id)
    for service in out.start:
        published = scheduler.request_and_publish(user_id, service, publish_intake)
        out.queued[service] = "enqueued" if published else "coalesced"
    return out


def _services(s: Any, user: User, new: list[str], out: Changes) -> None:
    out.added, out.removed = diff_services(list(user.services or []), new)
    user.services = new
    if out.removed:
        scheduler.stop_runs(s, user.id, out.removed)
        out.unsubscribe = subscriptions.drop(s, user.id, out.removed)
        if "email" in out.removed:
            reopened = departure.pass_on(s, user.id, leaving=False).reopened
            if reopened:  # colleagues' copies finish them
                publish_after_commit(s, reopened)
    for service in out.added:
        scheduler.ensure_state(s, user.id, service)
        if service in SERVICE_RESOURCES:
            s.add(
                Subscription(
                    user_id=user.id,
                    service=service,
                    resource=SERVICE_RESOURCES[service],
                    state=subscriptions.PENDING,
                )
            )
        if service == "email":  # what it left orphaned when turned off is its own again
            taken = departure.take_back(s, user.id)
            if taken:
                publish_after_commit(s, taken)
        if not user.paused and not is_paused(s, user.id, service):
            out.start.append(service)
    s.flush()
