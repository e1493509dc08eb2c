"""What a connector gets you: per domain, from what the connector offers, whether it works
fully, works with limits (each named in a provider's words) or cannot run (and why).

Pure: a mapping capability name -> offered (the names of `clients.capabilities.Capabilities`)
in, plain values out. A name missing from the mapping is "not known yet" (discovery asks
lazily, so an org's remembered capabilities are often partial), except the few the contract
presumes (`PRESUMED`). `brightsync connector check` feeds it what the check found; the org
status and the dashboard feed it what discovery remembered.

Every limit below says what the product does without the capability; the code paths are
named in docs/connector.md's endpoint tables, which say the same in the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DOMAINS = ("email", "calendar", "contacts", "tasks")
FULL, LIMITED, CANNOT, UNKNOWN = "full", "limited", "cannot", "unknown"
LABELS = {
    FULL: "works fully",
    LIMITED: "works with limits",
    CANNOT: "cannot run",
    UNKNOWN: "not known yet",
}

# What a connector is taken to offer until found otherwise: the two required operations,
# lists in the contacts lookup (the contract's form; a refusal is found out and remembered),
# and no `showDeleted=true` flag (used only where found).
PRESUMED: dict[str, bool] = {
    "email_create": True,
    "contact_lookup": True,
    "contact_lookup_list": True,
    "events_show_deleted": False,
    "contacts_show_deleted": False,
    "tasks_show_deleted": False,
}

# The endpoint behind each capability, as a provider reads it.
ENDPOINTS: dict[str, str] = {
    "email_create": "POST /emails",
    "email_lookup": "GET /emails?rfc822MsgId=",
    "email_get": "GET /emails/{id}",
    "email_update": "PATCH or PUT /emails/{id}",
    "contact_lookup": "GET /contacts/lookup?emails=",
    "contact_lookup_list": "several addresses in one GET /contacts/lookup?emails=a,b",
    "contact_get": "GET /contacts/{id}",
    "contact_create": "POST /contacts",
    "contact_update": "PATCH or PUT /contacts/{id}",
    "contact_delete": "DELETE /contacts/{id}",
    "contacts_since": "GET /contacts?since=",
    "deleted_contacts": "GET /deletedContacts?since=",
    "contacts_show_deleted": "GET /contacts?since=&showDeleted=true",
    "company_lookup_domain": "GET /companies/lookup?domain=",
    "company_lookup_name": "GET /companies/lookup?name=",
    "company_get": "GET /companies/{id}",
    "company_create": "POST /companies",
    "opportunities": "GET /opportunities/lookup",
    "users": "GET /users/lookup?emails=",
    "users_me": "GET /users/me",
    "events_window": "GET /events?startAt=&endAt=",
    "events_since": "GET /events?since=",
    "deleted_events": "GET /deletedEvents?since=",
    "calendars": "GET /calendars?ownerId=",
    "leads": "GET /leads/lookup?emails=",
    "email_attachments": "POST /emails/{id}/attachments",
    "events_show_deleted": "GET /events?since=&showDeleted=true",
    "event_get": "GET /events/{id}",
    "event_create": "POST /events",
    "event_update": "PATCH or PUT /events/{id}",
    "event_delete": "DELETE /events/{id}",
    "tasks_since": "GET /tasks?since=",
    "deleted_tasks": "GET /deletedTasks?since=",
    "tasks_show_deleted": "GET /tasks?since=&showDeleted=true",
    "task_get": "GET /tasks/{id}",
    "task_create": "POST /tasks",
    "task_update": "PATCH or PUT /tasks/{id}",
    "task_delete": "DELETE /tasks/{id}",
}


@dataclass(frozen=True)
class Need:
    """A domain cannot run unless one of `any_of` is offered."""

    any_of: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class Limit:
    """`text` holds when none of `missing` is offered, and it matters only when every group
    of `when` has one offered (e.g. companies matter only if contacts can be created)."""

    missing: tuple[str, ...]
    text: str
    when: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class DomainReach:
    domain: str
    verdict: str  # FULL | LIMITED | CANNOT | UNKNOWN
    limits: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # why it cannot run
    unknown: tuple[str, ...] = ()  # endpoints not asked about yet (that could change this)

    @property
    def label(self) -> str:
        return LABELS[self.verdict]

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "verdict": self.verdict,
            "label": self.label,
            "limits": list(self.limits),
            "reasons": list(self.reasons),
            "notKnownYet": list(self.unknown),
        }


def _deletions(kind: str, feed: str, flag: str) -> Limit:
    return Limit(
        (feed, flag),
        f"CRM deletions reach mailboxes only at the safety sync: {kind} deleted in the CRM are "
        f"found by a periodic comparison of ids (no {ENDPOINTS[feed]}, no showDeleted=true)",
    )


def _matching(records: str) -> tuple[Limit, ...]:
    """What email and calendar share: finding contacts, making them, relating deals."""
    return (
        Limit(
            ("contact_lookup_list",),
            f"contacts are looked up one address per call (slower: more calls per {records[:-1]})",
        ),
        Limit(
            ("contact_create",),
            f"contacts cannot be auto-created (no POST /contacts): {records} with people the "
            "CRM does not know wait in the sync cache",
        ),
        Limit(
            ("company_lookup_domain",),
            "no companies: contacts are created without a company "
            "(no GET /companies/lookup?domain=)",
            when=(("contact_create",),),
        ),
        Limit(
            ("company_create",),
            "companies are not created (no POST /companies): a new contact gets a company "
            "only when the CRM already has one for its domain",
            when=(("contact_create",), ("company_lookup_domain",)),
        ),
        Limit(
            ("opportunities",),
            f"{records} are related to contacts and companies only (no GET /opportunities/lookup)",
        ),
        Limit(
            ("contacts_since",),
            f"{records} waiting in the sync cache are retried on its schedule "
            "(unmatched.retryEveryHours, daily by default), not within 5 minutes of the "
            "contact's creation (no GET /contacts?since=)",
        ),
        Limit(
            ("contacts_since",),
            "contacts found are not shared between runs (no GET /contacts?since=): about 1 "
            f"more CRM call per {records[:-1]} (each run looks its people up again)",
        ),
    )


NEEDS: dict[str, tuple[Need, ...]] = {
    "email": (
        Need(("email_create",), "no POST /emails: emails cannot be logged"),
        Need(("contact_lookup",), "no GET /contacts/lookup: emails cannot be matched to contacts"),
    ),
    "calendar": (
        Need(
            ("events_window",),
            "no GET /events?startAt=&endAt=: the CRM's meetings cannot be read for the first sync",
        ),
        Need(("events_since",), "no GET /events?since=: changes made in the CRM cannot be read"),
        Need(("event_create",), "no POST /events: meetings cannot be created in the CRM"),
        Need(
            ("event_update",), "no PATCH or PUT /events/{id}: changes cannot be written to the CRM"
        ),
    ),
    "contacts": (
        Need(
            ("contacts_since",),
            "no GET /contacts?since=: CRM contacts and their changes cannot be read",
        ),
        Need(("contact_create",), "no POST /contacts: contacts cannot be created in the CRM"),
        Need(
            ("contact_update",),
            "no PATCH or PUT /contacts/{id}: changes cannot be written to the CRM",
        ),
    ),
    "tasks": (
        Need(("tasks_since",), "no GET /tasks?since=: CRM tasks and their changes cannot be read"),
        Need(("task_create",), "no POST /tasks: tasks cannot be created in the CRM"),
        Need(("task_update",), "no PATCH or PUT /tasks/{id}: changes cannot be written to the CRM"),
    ),
}

LIMITS: dict[str, tuple[Limit, ...]] = {
    "email": (
        Limit(
            ("email_lookup",),
            "an email whose create answer was lost is sent again without looking first "
            "(no GET /emails?rfc822MsgId=): it can be logged twice unless the connector "
            "honours Idempotency-Key",
        ),
        Limit(
            ("email_update",),
            "emails cannot be updated (no PATCH or PUT /emails/{id}): they stay linked to the "
            "contacts known when they were logged, and merged threads keep their old "
            "syncThreadId",
        ),
        *_matching("emails"),
    ),
    "calendar": (
        _deletions("meetings", "deleted_events", "events_show_deleted"),
        Limit(
            ("event_delete",),
            "meetings deleted in a mailbox stay in the CRM (no DELETE /events/{id})",
        ),
        Limit(
            ("users",),
            "internal attendees matched by address only, unless they have a BrightSync "
            "mailbox with a crmUserId (no GET /users/lookup)",
        ),
        Limit(
            ("event_get",),
            "a meeting whose create answer was lost is found again by its start and subject "
            "only (no GET /events/{id})",
        ),
        *_matching("meetings"),
    ),
    "contacts": (
        _deletions("contacts", "deleted_contacts", "contacts_show_deleted"),
        Limit(
            ("contact_delete",),
            "contacts deleted in a mailbox stay in the CRM (no DELETE /contacts/{id})",
        ),
        Limit(
            ("contact_get",),
            "a contact deleted in a mailbox is deleted in the CRM only when "
            "contacts.allowDeleteWithActivity is on: its logged mail cannot be checked first "
            "(no GET /contacts/{id})",
            when=(("contact_delete",),),
        ),
        Limit(
            ("company_lookup_domain", "company_lookup_name"),
            "no companies: contacts are created without a company (no GET /companies/lookup)",
        ),
        Limit(
            ("company_lookup_name",),
            "a contact's company is found by its email domain only "
            "(no GET /companies/lookup?name=)",
            when=(("company_lookup_domain",),),
        ),
        Limit(
            ("company_create",),
            "companies are not created (no POST /companies): a contact gets a company only "
            "when the CRM already has it",
            when=(("company_lookup_domain", "company_lookup_name"),),
        ),
        Limit(
            ("company_get",),
            "the companies of CRM contacts do not reach mailboxes (no GET /companies/{id})",
        ),
        Limit(
            ("contact_lookup_list",),
            "contacts are looked up one address per call (slower: more calls per run)",
        ),
    ),
    "tasks": (
        _deletions("tasks", "deleted_tasks", "tasks_show_deleted"),
        Limit(
            ("task_delete",), "tasks deleted in a mailbox stay in the CRM (no DELETE /tasks/{id})"
        ),
        Limit(
            ("users",),
            "due dates are read in UTC: the CRM user's time zone is unknown (no GET /users/lookup)",
        ),
        Limit(
            ("task_get",),
            "a due date changed in a mailbox cannot be written to the CRM: BrightSync loads "
            "the task first to keep its time of day (no GET /tasks/{id})",
        ),
    ),
}


def _offered(caps: Mapping[str, Any], name: str) -> bool | None:
    value = caps.get(name, PRESUMED.get(name))
    return None if value is None else bool(value)


def _any(caps: Mapping[str, Any], names: tuple[str, ...]) -> bool | None:
    """Three-valued "one of them is offered": None when it depends on what is not known."""
    values = [_offered(caps, n) for n in names]
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else None


def _unknown(caps: Mapping[str, Any], names: tuple[str, ...]) -> list[str]:
    return [ENDPOINTS[n] for n in names if _offered(caps, n) is None]


def domain_reach(domain: str, caps: Mapping[str, Any]) -> DomainReach:
    """What `domain` gets from a connector offering `caps` (see the module doc)."""
    reasons: list[str] = []
    unknown: list[str] = []
    undecided = False  # a need not known yet: whether it can run at all is open
    for need in NEEDS[domain]:
        state = _any(caps, need.any_of)
        if state is False:
            reasons.append(need.why)
        elif state is None:
            undecided = True
            unknown += _unknown(caps, need.any_of)
    if reasons:
        return DomainReach(domain, CANNOT, reasons=tuple(reasons))
    limits: list[str] = []
    for limit in LIMITS[domain]:
        groups = [_any(caps, group) for group in limit.when]
        missing = _any(caps, limit.missing)
        if missing is True or any(g is False for g in groups):
            continue  # offered, or it does not matter here
        if missing is False and all(g is True for g in groups):
            limits.append(limit.text)
        else:
            unknown += _unknown(caps, limit.missing + tuple(n for g in limit.when for n in g))
    unknown = list(dict.fromkeys(unknown))
    if undecided:
        verdict = UNKNOWN
    elif limits:
        verdict = LIMITED
    else:
        verdict = UNKNOWN if unknown else FULL
    return DomainReach(domain, verdict, tuple(limits), (), tuple(unknown))


def connector_reach(caps: Mapping[str, Any]) -> tuple[DomainReach, ...]:
    """The table for every domain, in the order email, calendar, contacts, tasks."""
    return tuple(domain_reach(domain, caps) for domain in DOMAINS)


def reach_lines(table: tuple[DomainReach, ...], indent: str = "  ") -> list[str]:
    """The table as text lines (the check's report, the CLI)."""
    width = max(len(d) for d in DOMAINS) + 2
    lines: list[str] = []
    for row in table:
        lines.append(f"{indent}{row.domain:<{width}}{row.label}")
        pad = indent + " " * width
        lines += [f"{pad}- {text}" for text in row.reasons + row.limits]
        if row.unknown:
            lines.append(f"{pad}- not asked yet: " + ", ".join(row.unknown))
    return lines


NOTHING_KNOWN = (
    "Nothing is known yet about what the connector offers: BrightSync finds out as the "
    "syncs run (this page never asks the connector). Run `brightsync connector check` to "
    "see it now."
)


def remembered_reach(
    remembered: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None,
    learned_at: str | None,
) -> dict[str, Any]:
    """The table from what discovery remembered for an org and the org's own overrides
    (the org status and the dashboard): `known` false, and every domain not known yet, until
    a run has found something out."""
    caps = {k: bool(v) for k, v in (remembered or {}).items() if isinstance(v, bool)}
    pinned = {k: bool(v) for k, v in (overrides or {}).items() if isinstance(v, bool)}
    caps.update(pinned)
    return {
        "known": bool(caps),
        "learnedAt": learned_at if remembered else None,
        "overrides": sorted(pinned),
        "message": None if caps else NOTHING_KNOWN,
        "domains": [row.as_dict() for row in connector_reach(caps)],
    }
