"""The "tasks" sync handler: builds the tasks adapter for a user and runs the two-way engine."""

from __future__ import annotations

from brightsync.crm.context import CrmContext
from brightsync.crm.users import crm_users
from brightsync.crm.vocabulary import TASK_STATUS, known_words, remember_words
from brightsync.sync import crm_deletions
from brightsync.sync.handler import run_twoway
from brightsync.sync.run import RunContext
from brightsync.tasks import rules
from brightsync.tasks.adapter import TasksAdapter


def sync_tasks(user_id: int, run: RunContext) -> None:
    """Handler of the "tasks" service (wired in `brightsync/domains.py`): one two-way run."""
    run_twoway(user_id, run, "tasks", _adapter, context=CrmContext, identity=rules.IDENTITY)


def _adapter(ctx: CrmContext) -> TasksAdapter:
    if not ctx.crm_user_id:
        raise ValueError("tasks sync needs the user's crmUserId (the CRM owner of tasks)")
    owner_id = str(ctx.crm_user_id)
    options = ctx.settings["tasks"]
    # Due dates are read in the CRM user's zone, so a date never shifts a day (UTC when the
    # connector cannot say: no user lookup, or a user without a zone).
    me = crm_users(ctx.crm, ctx.org_id, [ctx.user_email]).get(ctx.user_email.strip().lower())
    timezone = me.get("timezone") if me and str(me.get("id")) == owner_id else None
    org_id = ctx.org_id
    return TasksAdapter(
        ctx.aurinko,
        ctx.crm,
        owner_id=owner_id,
        task_list=options.get("list"),
        # The CRM's own status words seen by any run of this org: what writes send.
        statuses=rules.StatusMap(options.get("statusMap"), known_words(org_id, TASK_STATUS)),
        tz=rules.zone(timezone),
        skip_completed=options.get("skipCompleted", True),
        on_learned=lambda seen: remember_words(org_id, TASK_STATUS, seen),
        deletion_period=crm_deletions.period_of(ctx.settings),
    )
