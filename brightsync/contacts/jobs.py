"""The "contacts" sync handler: builds the contacts adapter for a user and runs the two-way
engine with the duplicate matcher as its pairer."""

from __future__ import annotations

from typing import Any

from brightsync.contacts import rules
from brightsync.contacts.activity import logged_activity
from brightsync.contacts.adapter import ContactsAdapter
from brightsync.contacts.pairing import ContactPairer
from brightsync.crm.context import CrmContext
from brightsync.db import session_scope
from brightsync.sync import engine
from brightsync.sync.handler import run_twoway
from brightsync.unmatched.watch import on_new_contacts


def sync_contacts(user_id: int, run: Any) -> None:
    """Handler of the "contacts" service (`sync/jobs.py` HANDLERS): one two-way run."""
    run_twoway(
        user_id,
        run,
        "contacts",
        _adapter,
        context=CrmContext,
        identity=rules.IDENTITY,
        pairer=_pairer,
    )


def _adapter(ctx: CrmContext) -> ContactsAdapter:
    org_id = ctx.org_id
    options = ctx.settings["contacts"]

    def activity(contact_id: str, emails: list[str]) -> int:
        with session_scope() as s:
            return logged_activity(s, org_id, contact_id, emails)

    return ContactsAdapter(
        ctx.aurinko,
        ctx.crm,
        ctx.matcher,
        owner_id=ctx.crm_user_id,
        category=options.get("category"),
        allow_delete_with_activity=options["allowDeleteWithActivity"],
        activity=activity,
        released=lambda addresses: on_new_contacts(org_id, addresses),
    )


def _pairer(
    ctx: CrmContext, adapter: ContactsAdapter, scope: engine.Scope, lease: engine.Lease
) -> ContactPairer:
    pairer = ContactPairer(ctx.org_id, ctx.user_id, lookup=adapter.lookup_crm)
    # Contacts whose possible duplicate a person has decided are looked at again.
    engine.reopen_waiting(lease, scope, pairer.waiting_decided(scope))
    return pairer
