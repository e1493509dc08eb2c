"""Reading requests and shaping answers, as every operation of the reference CRM does: the JSON
body checked against the contract's schema, query parameters, and pages of records."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from flask import Response, jsonify, request
from marshmallow import ValidationError, fields

from brightsync.connector.schemas import SCHEMAS
from brightsync.connector.validation import error_messages, must_carry, strict_schema
from brightsync.sandbox.crm.errors import BadRequest, NotFound
from brightsync.sandbox.crm.picklists import refused_status
from brightsync.sandbox.crm.state import broken, crm
from brightsync.sandbox.crm.store import stamp

# One record of a collection, as error messages name it.
NOUN = {
    "contacts": "contact",
    "companies": "company",
    "opportunities": "opportunity",
    "emails": "email",
    "events": "event",
    "calendars": "calendar",
    "tasks": "task",
    "users": "user",
    "leads": "lead",
}


def instant_param(value: str, name: str) -> datetime:
    """A timestamp the caller sent as `name`: ISO 8601 with an offset, else BadRequest.

    Stricter than `brightsync.times.parse_instant` on purpose: the contract requires the
    offset, so a naive time is the caller's error, not UTC.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        hint = " (a '+' in a query string must be sent as %2B)" if " " in value else ""
        raise BadRequest(f"{name} is not an ISO 8601 timestamp: {value!r}{hint}") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{name} needs an offset, e.g. {value}Z or {value}+02:00")
    return parsed


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def validate(kind: str, data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Check a body against the contract's schema; return it in its JSON form."""
    schema = strict_schema(SCHEMAS[kind])
    try:
        loaded = schema.load(data, partial=partial)
    except ValidationError as exc:
        detail = "; ".join(error_messages(exc.messages))
        raise BadRequest(f"invalid {NOUN[kind]}: {detail}", exc.messages) from None
    refused = refused_status(data, crm().control.task_statuses) if kind == "tasks" else None
    if refused:  # a CRM with a picklist knows no other value
        raise BadRequest(f"invalid task: {refused}", {"status": [refused]})
    dumped = SCHEMAS[kind]().dump(loaded)
    # Set by the connector, never by the caller.
    dumped.pop("id", None)
    dumped.pop("lastModifiedAt", None)
    return dumped


def blank(kind: str) -> dict[str, Any]:
    """Every field of the object, empty: responses always carry the full shape."""
    out: dict[str, Any] = {}
    for name, field in SCHEMAS[kind]().fields.items():
        if name not in ("id", "lastModifiedAt"):
            out[name] = [] if isinstance(field, fields.List) else None
    return out


def csv(name: str, *, required: bool = True) -> list[str]:
    """A comma-separated (or repeated) query parameter, as a list of its non-empty values."""
    values = [v.strip() for raw in request.args.getlist(name) for v in raw.split(",")]
    values = [v for v in values if v]
    if required and not values:
        raise BadRequest(f"query parameter {name} is required")
    return values


def since_param(required: bool = False) -> str | None:
    """`since` as a store stamp (None when absent and not required)."""
    raw = request.args.get("since")
    if not raw:
        if required:
            raise BadRequest("query parameter since is required")
        return None
    return stamp(instant_param(raw, "since"))


def with_deleted(kind: str, found: list[dict[str, Any]], since: str | None) -> list[Any]:
    """A `?since=` list and, asked with `showDeleted=true`, the records deleted since then
    as `{"id", "deleted": true, "lastModifiedAt"}` (the contract's deleted entry)."""
    asked = request.args.get("showDeleted", "").lower() in ("true", "1")
    if not asked or since is None or broken("no_show_deleted"):
        return found
    return found + crm().store.deleted_entries(kind, since, inclusive=inclusive())


def inclusive() -> bool:
    """Whether `since` includes its own instant (the contract says it does)."""
    return not broken("since_exclusive")


def found(kind: str, record_id: str) -> dict[str, Any]:
    """The live record, else 404."""
    record = crm().store.get(kind, record_id)
    if record is None:
        raise NotFound(f"no {NOUN[kind]} {record_id}")
    return record


def out(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record as this connector answers it (without empty fields when `omit_nulls`)."""
    if crm().settings.omit_nulls and kind in SCHEMAS:
        keep = set(must_carry(SCHEMAS[kind]))
        record = {k: v for k, v in record.items() if v is not None or k in keep}
    if kind == "contacts" and broken("wrong_field_types"):
        record = {**record, "emailAddresses": ", ".join(record.get("emailAddresses") or [])}
    return record


def page(kind: str, records: list[dict[str, Any]]) -> Response:
    """One page of a list, in this connector's paging style."""
    paging = crm().settings.paging
    try:
        limit = min(500, max(1, int(request.args.get("limit", 100))))
        if paging == "offset":
            start = max(0, int(request.args.get("offset", 0)))
        else:
            token = request.args.get("pageToken")
            start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except (ValueError, TypeError):
        raise BadRequest("limit, offset or pageToken is not valid") from None
    chunk = [out(kind, r) for r in records[start : start + limit]]
    if paging == "offset":
        return jsonify(chunk)
    more = start + limit < len(records)
    token = base64.urlsafe_b64encode(str(start + limit).encode()).decode() if more else None
    return jsonify({"records": chunk, "nextPageToken": token})
