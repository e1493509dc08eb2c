"""The one place that wires the domains (email, calendar, contacts, tasks) to the machinery.

Per service: the handler of its runs (and what runs instead in review mode), the kinds it
parks in the sync cache, the kind of record its "why" explains, and the panels it adds to an
organisation's status. The central modules (`sync.run`, `sync_cache.cache`, `ops.why`,
`ops.status`) know no domain: whoever needs a table takes it from here and hands it over.

Nothing below this module imports it: only the leaves and the tops do (Celery task modules,
the web blueprints, the CLI). Modules below that need the list of services (the safety sync,
input validation) are handed `SERVICES`, which is this registry's keys.

Adding a domain: one new package with its handler, and one entry in `DOMAINS`
(docs/architecture.md, "Adding a domain").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from brightsync.calendar import cached as meeting_cache
from brightsync.calendar.handler import sync_calendar
from brightsync.calendar.why import KEY_HINT as MEETING_KEY_HINT
from brightsync.calendar.why import explain_meeting
from brightsync.contacts.handler import sync_contacts
from brightsync.email import cached as email_cache
from brightsync.email.decisions import describe_message
from brightsync.email.mailbox import sync_mailbox
from brightsync.ops.status import OrgPanel
from brightsync.ops.why import Why
from brightsync.ops.why_links import link_explainer
from brightsync.review.duplicates import duplicates_panel
from brightsync.review.email import review_mailbox
from brightsync.review.held import held_panel
from brightsync.sync.run import Handler, RunContext, run_once
from brightsync.sync_cache.cache import CachedKind
from brightsync.sync_cache.watch import on_new_contacts
from brightsync.tasks.handler import sync_tasks


@dataclass(frozen=True)
class Domain:
    """One service's wiring. `review`: what runs instead in review mode (None: `run` itself
    plans and records without writing, as the two-way engine does)."""

    run: Handler
    review: Handler | None = None
    cache_kinds: Mapping[str, CachedKind] = field(default_factory=dict)
    why: Mapping[str, Why] = field(default_factory=dict)
    panels: Mapping[str, OrgPanel] = field(default_factory=dict)


def _contacts_released(org_id: int, addresses: set[str]) -> dict[str, int]:
    """Contacts a contacts run created in the CRM unblock what waits for them in the cache."""
    return on_new_contacts(org_id, addresses, CACHE_KINDS)


def _sync_contacts(user_id: int, run: RunContext) -> None:
    sync_contacts(user_id, run, released=_contacts_released)


DOMAINS: dict[str, Domain] = {
    "email": Domain(
        run=sync_mailbox,
        review=review_mailbox,
        cache_kinds={"email": email_cache},
        why={"email": Why(describe_message, "the message's RFC 822 Message-ID")},
    ),
    "calendar": Domain(
        run=sync_calendar,
        cache_kinds={"meeting": meeting_cache},
        why={"meeting": Why(explain_meeting, MEETING_KEY_HINT)},
    ),
    "contacts": Domain(
        run=_sync_contacts,
        why={
            "contact": Why(
                link_explainer("contacts"), "the mailbox contact's id or the CRM contact's id"
            )
        },
        panels={"possibleDuplicates": duplicates_panel},
    ),
    "tasks": Domain(
        run=sync_tasks,
        why={"task": Why(link_explainer("tasks"), "the mailbox task's id or the CRM task's id")},
    ),
}
SERVICES: tuple[str, ...] = tuple(DOMAINS)

# The tables the central modules are handed.
CACHE_KINDS: dict[str, CachedKind] = {
    k: v for d in DOMAINS.values() for k, v in d.cache_kinds.items()
}
EXPLAINERS: dict[str, Why] = {k: v for d in DOMAINS.values() for k, v in d.why.items()}
# Held deletions belong to the two-way core (every two-way domain), not to one domain.
ORG_PANELS: dict[str, OrgPanel] = {
    "heldDeletions": held_panel,
    **{k: v for d in DOMAINS.values() for k, v in d.panels.items()},
}


def run_service(
    user_id: int, service: str, *, requested_only: bool = False, share_work: bool = False
) -> dict[str, Any]:
    """One run of `service` for the user with its domain's handlers (`sync.run.run_once`)."""
    return run_once(
        user_id,
        service,
        DOMAINS.get(service),
        requested_only=requested_only,
        share_work=share_work,
    )
