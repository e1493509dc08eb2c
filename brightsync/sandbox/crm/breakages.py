"""Deliberate contract violations the reference CRM switches on, so that `brightsync connector
check` can be shown to catch each one."""

from __future__ import annotations

from collections.abc import Iterable

from brightsync.connector.contract import OPERATIONS

BREAKAGES: dict[str, str] = {
    "no_auth": "accepts any credentials, or none",
    "missing_id_on_create": "POST responses carry no id",
    "no_email_lookup": "GET /emails?rfc822MsgId= is not offered (405)",
    "email_lookup_ignores_filter": "GET /emails?rfc822MsgId= returns every email",
    "create_not_idempotent_lookup": "rfc822MsgId is not stored, so look-before-create never "
    "finds the email",
    "no_email_update": "emails cannot be changed (PATCH and PUT answer 405)",
    "no_email_attachments": "no file uploads to a logged email (POST /emails/{id}/attachments)",
    "no_patch": "PATCH answers 405 everywhere; PUT still works for emails and events",
    "contact_lookup_case_sensitive": "contacts lookup compares addresses case-sensitively",
    "wrong_field_types": "contacts carry emailAddresses as a comma-joined string",
    "since_exclusive": "`since` is exclusive (> instead of >=)",
    "no_contact_write": "contacts are read-only: no POST, PATCH or DELETE",
    "no_contacts_since": "GET /contacts?since= is not offered",
    "no_deleted_contacts": "GET /deletedContacts is not offered (404)",
    "deleted_contacts_empty": "GET /deletedContacts never lists anything",
    "no_deleted_events": "GET /deletedEvents is not offered (404)",
    "no_deleted_tasks": "GET /deletedTasks is not offered (404)",
    "no_show_deleted": "lists ignore showDeleted=true (as a connector ignoring unknown "
    "parameters does)",
    "single_contact_lookup": "the contacts lookup takes one address per call (a list of "
    "several answers 400)",
    "no_companies": "no company endpoints",
    "no_opportunities": "no opportunity lookup",
    "no_users": "no user endpoints",
    "no_leads": "no lead lookup",
    "no_events": "no calendar endpoints",
    "no_tasks": "no task endpoints",
    "no_options": "OPTIONS answers 405 without Allow (clients must probe otherwise)",
    "ignores_idempotency_key": "the Idempotency-Key header is ignored: a repeated create makes "
    "another record",
}

#: A connector offering little more than the two required operations (it can also load
#: emails and contacts by id).
MINIMAL = frozenset(
    {
        "no_email_lookup",
        "no_email_update",
        "no_email_attachments",
        "no_contact_write",
        "no_contacts_since",
        "no_deleted_contacts",
        "no_companies",
        "no_opportunities",
        "no_users",
        "no_leads",
        "no_events",
        "no_tasks",
    }
)

#: Connectors as providers build them, each valid by the contract (`--profile`):
PROFILES: dict[str, frozenset[str]] = {
    "minimal": MINIMAL,
    # Deletions only through `showDeleted=true` on the `?since=` lists: no deleted feeds.
    "show_deleted_only": frozenset(
        {"no_deleted_contacts", "no_deleted_events", "no_deleted_tasks"}
    ),
    # The required endpoints plus the delta feeds and writes of each domain: no deleted feeds
    # (nor showDeleted), no user endpoints, one address per contact lookup.
    "partial": frozenset(
        {
            "no_deleted_contacts",
            "no_deleted_events",
            "no_deleted_tasks",
            "no_show_deleted",
            "no_users",
            "single_contact_lookup",
        }
    ),
}

# Operations (openapi.CONTRACT ids) that a breakage removes.
REMOVES: dict[str, set[str]] = {
    "no_email_lookup": {"emails.lookup"},
    "no_email_update": {"emails.update", "emails.replace"},
    "no_email_attachments": {"emails.attach", "emails.download"},
    "no_patch": {op.id for op in OPERATIONS.values() if op.method == "patch"},
    "no_contact_write": {"contacts.create", "contacts.update", "contacts.delete"},
    "no_contacts_since": {"contacts.list"},
    "no_deleted_contacts": {"contacts.deleted"},
    "no_deleted_events": {"events.deleted"},
    "no_deleted_tasks": {"tasks.deleted"},
    "no_companies": {op for op in OPERATIONS if op.startswith("companies.")},
    "no_opportunities": {"opportunities.lookup"},
    "no_users": {"users.me", "users.lookup"},
    "no_leads": {"leads.lookup"},
    "no_events": {op for op in OPERATIONS if op.startswith(("events.", "calendars."))},
    "no_tasks": {op for op in OPERATIONS if op.startswith("tasks.")},
}


def checked_breakages(breakages: Iterable[str]) -> frozenset[str]:
    """The breakages as a set; ValueError naming any this connector does not know."""
    unknown = set(breakages) - set(BREAKAGES)
    if unknown:
        raise ValueError(f"unknown breakages {sorted(unknown)}; known: {sorted(BREAKAGES)}")
    return frozenset(breakages)


def removed_operations(breakages: frozenset[str]) -> set[str]:
    """The contract operations these breakages take away (they get no route at all)."""
    return set().union(*(REMOVES.get(b, set()) for b in breakages))
