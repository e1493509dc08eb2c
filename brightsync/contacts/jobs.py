"""The "contacts" sync handler: builds the contacts adapter for a user and runs the two-way
engine with the duplicate matcher as its pairer."""

from __future__ import annotations

from typing import Any

from brightsync.clients.crm import CrmClient
from brightsync.config import get_settings
from brightsync.contacts import rules
from brightsync.contacts.activity import logged_activity
from brightsync.contacts.adapter import ContactsAdapter
from brightsync.contacts.pairing import ContactPairer
from brightsync.crm.matching import Matcher
from brightsync.crm.settings import effective_settings
from brightsync.db import session_scope
from brightsync.models import Organisation, User
from brightsync.subscriptions import aurinko_for
from brightsync.sync import engine
from brightsync.sync.twoway import Settings
from brightsync.unmatched.watch import on_new_contacts


def sync_contacts(user_id: int, run: Any) -> None:
    """Handler of the "contacts" service (`sync/jobs.py` HANDLERS): one two-way run."""
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise LookupError(f"no user {user_id}")
        org = s.get(Organisation, user.org_id)
        assert org is not None
        everything = effective_settings(org.settings)
        options = everything["contacts"]
        crm = CrmClient.for_org(org, rate_limit=get_settings().crm_rate_per_second)
        aurinko = aurinko_for(user)
        scope = engine.Scope(org.id, user.id, "contacts")
        owner_id = user.crm_user_id
        org_id = org.id

    def activity(contact_id: str, emails: list[str]) -> int:
        with session_scope() as s:
            return logged_activity(s, org_id, contact_id, emails)

    adapter = ContactsAdapter(
        aurinko,
        crm,
        Matcher(crm, org_id, create_companies=everything["email"]["createCompanies"]),
        owner_id=owner_id,
        category=options.get("category"),
        allow_delete_with_activity=options["allowDeleteWithActivity"],
        activity=activity,
        released=lambda addresses: on_new_contacts(org_id, addresses),
    )
    settings = Settings(direction=options["direction"], conflict=options["conflict"])
    lease = engine.Lease(run.state_id, run.token)
    pairer = ContactPairer(org_id, user_id, lookup=adapter.lookup_crm)
    # Contacts whose possible duplicate a person has decided are looked at again.
    engine.reopen_waiting(lease, scope, pairer.waiting_decided(scope))
    engine.sync(
        adapter,
        scope,
        settings,
        lease,
        identity=rules.IDENTITY,
        pairer=pairer,
        count=run.count,
        on_progress=lambda counts: run.renew(progress=counts),
    )
