"""The "tasks" sync handler: builds the tasks adapter for a user and runs the two-way engine."""

from __future__ import annotations

from typing import Any

from brightsync.clients.crm import CrmClient
from brightsync.clients.http import FinalError
from brightsync.config import get_settings
from brightsync.crm.settings import effective_settings
from brightsync.db import session_scope
from brightsync.models import Organisation, User
from brightsync.subscriptions import aurinko_for
from brightsync.sync import engine
from brightsync.sync.twoway import Settings
from brightsync.tasks import rules
from brightsync.tasks.adapter import TasksAdapter


def sync_tasks(user_id: int, run: Any) -> None:
    """Handler of the "tasks" service (`sync/jobs.py` HANDLERS): one two-way run."""
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise LookupError(f"no user {user_id}")
        org = s.get(Organisation, user.org_id)
        assert org is not None
        options = effective_settings(org.settings)["tasks"]
        if not user.crm_user_id:
            raise ValueError("tasks sync needs the user's crmUserId (the CRM owner of tasks)")
        crm = CrmClient.for_org(org, rate_limit=get_settings().crm_rate_per_second)
        aurinko = aurinko_for(user)
        scope = engine.Scope(org.id, user.id, "tasks")
        owner_id = str(user.crm_user_id)
        email = user.email
    # Due dates are read in the CRM user's zone, so a date never shifts a day.
    try:
        known = [u for u in crm.lookup_users([email]) if str(u.get("id")) == owner_id]
    except FinalError:  # a connector without user lookup: dates are read in UTC
        known = []
    timezone = known[0].get("timezone") if known else None
    adapter = TasksAdapter(
        aurinko,
        crm,
        owner_id=owner_id,
        task_list=options.get("list"),
        statuses=rules.StatusMap(options.get("statusMap")),
        tz=rules.zone(timezone),
        skip_completed=options.get("skipCompleted", True),
    )
    settings = Settings(direction=options["direction"], conflict=options["conflict"])
    engine.sync(
        adapter,
        scope,
        settings,
        engine.Lease(run.state_id, run.token),
        identity=rules.IDENTITY,
        count=run.count,
        on_progress=lambda counts: run.renew(progress=counts),
    )
