"""The operations of the CRM connector contract (docs/connector.md), once.

`CONTRACT` lists every operation with its method, path, parameters and answer; the OpenAPI
document (`brightsync.connector.openapi`), the reference CRM's operation names (its
`/_control/stats` keys) and the names of the conformance checks all come from it. Only
creating an email and looking up contacts are required; BrightSync discovers the rest, and
`brightsync.crm.reach` says what each domain does without each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

API = "/api/v1"


@dataclass(frozen=True)
class Operation:
    id: str  # operationId, e.g. "contacts.lookup"
    method: str
    path: str  # relative to the tenant's base URL
    summary: str
    required: bool = False
    params: tuple[str, ...] = ()  # names in PARAMS
    body: str | None = None  # resource whose schema is the request body
    body_partial: bool = False  # PATCH: any subset of the fields
    # object | list (plain array) | page (array, or a token page) | deleted | none | binary
    returns: str = "object"
    status: int = 200
    upload: bool = False  # the body is multipart/form-data with one `file` part
    answer: str | None = None  # the answer's schema when it is not the resource's

    @property
    def resource(self) -> str:
        return self.id.split(".", 1)[0]


_SINCE = (
    "ISO 8601 timestamp with an offset (URL-encode `+` as %2B). Inclusive: records modified "
    "at exactly this instant are returned again."
)

PARAMS: dict[str, dict[str, Any]] = {
    "emails": {
        "description": "Comma-separated email addresses; matched case-insensitively against "
        "every address of a record. BrightSync sends up to 50 per call; a contacts lookup "
        "that answers a list with 400 is asked one address per call (budgeted per run).",
        "required": True,
        "schema": {"type": "string"},
        "example": "ann@example.com,bob@example.org",
    },
    "rfc822MsgId": {
        "description": "Exact Internet Message-ID of a logged email (as it was posted).",
        "required": True,
        "schema": {"type": "string"},
    },
    "domain": {
        "description": "A domain, e.g. example.com; matching subdomains is not required.",
        "schema": {"type": "string"},
    },
    "name": {"description": "Company name (case-insensitive).", "schema": {"type": "string"}},
    "contactIds": {"description": "Comma-separated contact ids.", "schema": {"type": "string"}},
    "companyIds": {"description": "Comma-separated company ids.", "schema": {"type": "string"}},
    "since": {"description": _SINCE, "schema": {"type": "string", "format": "date-time"}},
    "since!": {
        "name": "since",
        "description": _SINCE,
        "required": True,
        "schema": {"type": "string", "format": "date-time"},
    },
    "showDeleted": {
        "description": "true: also list the records deleted since `since`, each as "
        '`{"id": …, "deleted": true, "lastModifiedAt": …}` (DeletedEntry; `isDeleted: true` '
        "or a `deletedAt` are read the same way). Optional: the way to report deletions "
        "without the deleted* endpoint. A connector that does not offer it ignores it.",
        "schema": {"type": "boolean"},
    },
    "startAt": {
        "description": "Window start: events ending after it.",
        "schema": {"type": "string", "format": "date-time"},
    },
    "endAt": {
        "description": "Window end: events starting before it.",
        "schema": {"type": "string", "format": "date-time"},
    },
    "ownerId": {
        "description": "A CRM user id: only that user's calendars (every calendar without it).",
        "schema": {"type": "string"},
    },
    "limit": {
        "description": "Page size (either paging style).",
        "schema": {"type": "integer", "minimum": 1},
    },
    "pageToken": {
        "description": "Token paging: the `nextPageToken` of the previous page.",
        "schema": {"type": "string"},
    },
    "offset": {
        "description": "Offset paging: records to skip (the response is then a plain array; "
        "a page shorter than `limit` is the last).",
        "schema": {"type": "integer", "minimum": 0},
    },
}
_PAGING = ("limit", "pageToken", "offset")


def _crud(res: str, noun: str, *, put: bool = False, delete: bool = True) -> list[Operation]:
    base = f"{API}/{res}"
    ops = [
        Operation(f"{res}.get", "get", base + "/{id}", f"Load a {noun} by id"),
        Operation(f"{res}.create", "post", base, f"Create a {noun}", body=res, status=201),
        Operation(
            f"{res}.update",
            "patch",
            base + "/{id}",
            f"Change some fields of a {noun}",
            body=res,
            body_partial=True,
        ),
    ]
    if put:
        ops.append(
            Operation(f"{res}.replace", "put", base + "/{id}", f"Replace a {noun}", body=res)
        )
    if delete:
        ops.append(
            Operation(
                f"{res}.delete",
                "delete",
                base + "/{id}",
                f"Delete a {noun}",
                returns="none",
                status=204,
            )
        )
    return ops


CONTRACT: tuple[Operation, ...] = (
    Operation("users.me", "get", f"{API}/users/me", "The user the credentials belong to"),
    Operation(
        "users.lookup",
        "get",
        f"{API}/users/lookup",
        "Find internal users by email",
        params=("emails",),
        returns="list",
    ),
    Operation(
        "leads.lookup",
        "get",
        f"{API}/leads/lookup",
        "Find leads (people not yet contacts) by email address",
        params=("emails",),
        returns="list",
    ),
    Operation(
        "emails.create",
        "post",
        f"{API}/emails",
        "Log an email",
        required=True,
        body="emails",
        status=201,
    ),
    Operation(
        "emails.lookup",
        "get",
        f"{API}/emails",
        "Find logged emails by Message-ID (look before creating: idempotency)",
        params=("rfc822MsgId",),
        returns="list",
    ),
    Operation("emails.get", "get", f"{API}/emails/{{id}}", "Load a logged email by id"),
    Operation(
        "emails.update",
        "patch",
        f"{API}/emails/{{id}}",
        "Change a logged email (re-link to a contact created later)",
        body="emails",
        body_partial=True,
    ),
    Operation(
        "emails.replace",
        "put",
        f"{API}/emails/{{id}}",
        "Replace a logged email (for connectors without PATCH)",
        body="emails",
    ),
    Operation(
        "emails.attach",
        "post",
        f"{API}/emails/{{id}}/attachments",
        "Add one file to a logged email (multipart/form-data, part `file`); it completes the "
        "entry of that name marked `missing`, else it is added",
        upload=True,
        answer="Attachment",
        status=201,
    ),
    Operation(
        "emails.download",
        "get",
        f"{API}/emails/{{id}}/attachments/{{attachmentId}}",
        "The bytes of one attachment of a logged email",
        returns="binary",
    ),
    Operation(
        "contacts.lookup",
        "get",
        f"{API}/contacts/lookup",
        "Find contacts by email address (several per call, or one where the connector "
        "answers a list with 400)",
        required=True,
        params=("emails",),
        returns="list",
    ),
    Operation(
        "contacts.list",
        "get",
        f"{API}/contacts",
        "Contacts changed since a time (all contacts without `since`)",
        params=("since", "showDeleted", *_PAGING),
        returns="page",
    ),
    Operation(
        "contacts.deleted",
        "get",
        f"{API}/deletedContacts",
        "Contacts deleted since a time",
        params=("since!", *_PAGING),
        returns="deleted",
    ),
    *_crud("contacts", "contact"),
    Operation(
        "companies.lookup",
        "get",
        f"{API}/companies/lookup",
        "Find companies by domain or by name (one of the two is required)",
        params=("domain", "name"),
        returns="list",
    ),
    Operation("companies.get", "get", f"{API}/companies/{{id}}", "Load a company by id"),
    Operation(
        "companies.create",
        "post",
        f"{API}/companies",
        "Create a company",
        body="companies",
        status=201,
    ),
    Operation(
        "opportunities.lookup",
        "get",
        f"{API}/opportunities/lookup",
        "Opportunities of contacts or companies (either list, or both)",
        params=("contactIds", "companyIds"),
        returns="list",
    ),
    Operation(
        "events.list",
        "get",
        f"{API}/events",
        "Events in a window (`startAt`+`endAt`) and/or changed since a time",
        params=("startAt", "endAt", "since", "showDeleted", *_PAGING),
        returns="page",
    ),
    Operation(
        "events.deleted",
        "get",
        f"{API}/deletedEvents",
        "Events deleted since a time",
        params=("since!", *_PAGING),
        returns="deleted",
    ),
    *_crud("events", "calendar event", put=True),
    Operation(
        "calendars.list",
        "get",
        f"{API}/calendars",
        "A user's calendars (CRMs with several calendars per user)",
        params=("ownerId",),
        returns="list",
    ),
    Operation(
        "tasks.list",
        "get",
        f"{API}/tasks",
        "Tasks changed since a time",
        params=("since", "showDeleted", *_PAGING),
        returns="page",
    ),
    Operation(
        "tasks.deleted",
        "get",
        f"{API}/deletedTasks",
        "Tasks deleted since a time",
        params=("since!", *_PAGING),
        returns="deleted",
    ),
    *_crud("tasks", "task"),
)

OPERATIONS: dict[str, Operation] = {op.id: op for op in CONTRACT}
