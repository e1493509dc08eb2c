"""The "contacts" sync handler: builds the contacts adapter for a user and runs the two-way
engine with the duplicate matcher as its pairer. CRM contacts it creates are handed to
`released` (the domain registry wires that to the sync cache)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from brightsync.contacts import rules
from brightsync.contacts.activity import logged_activity
from brightsync.contacts.adapter import ContactsAdapter
from brightsync.contacts.pairing import ContactPairer
from brightsync.crm.context import CrmContext
from brightsync.db import session_scope
from brightsync.sync import crm_deletions
from brightsync.sync.handler import run_twoway
from brightsync.sync.links import Lease, Scope, reopen_waiting
from brightsync.sync.run import RunContext

# (org id, addresses of contacts that now exist in the CRM) -> whatever the callee reports
OrgReleased = Callable[[int, set[str]], Any]


def sync_contacts(user_id: int, run: RunContext, *, released: OrgReleased) -> None:
    """Handler of the "contacts" service (wired in `brightsync/domains.py`): one two-way run."""

    def adapter(ctx: CrmContext) -> ContactsAdapter:
        return _adapter(ctx, released)

    run_twoway(
        user_id,
        run,
        "contacts",
        adapter,
        context=CrmContext,
        identity=rules.IDENTITY,
        pairer=_pairer,
    )


def _adapter(ctx: CrmContext, released: OrgReleased) -> ContactsAdapter:
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
        released=lambda addresses: released(org_id, addresses),
        deletion_period=crm_deletions.period_of(ctx.settings),
    )


def _pairer(ctx: CrmContext, adapter: ContactsAdapter, scope: Scope, lease: Lease) -> ContactPairer:
    pairer = ContactPairer(ctx.org_id, ctx.user_id, lookup=adapter.lookup_crm)
    # Contacts whose possible duplicate a person has decided are looked at again.
    reopen_waiting(lease, scope, pairer.waiting_decided(scope))
    return pairer
