"""`/_control`: the reference CRM's test hooks (no auth, not counted) — reset, statistics,
injected faults, settings (latency, a task-status picklist, calendar shapes), bulk seeding
and a look at everything stored."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from brightsync.connector.schemas import SCHEMAS
from brightsync.sandbox.crm import calendars, picklists
from brightsync.sandbox.crm.errors import BadRequest, NotFound
from brightsync.sandbox.crm.faults import MAX_FAULT_DELAY, Fault
from brightsync.sandbox.crm.state import crm
from brightsync.sandbox.crm.store import stamp
from brightsync.sandbox.crm.wire import blank, body, instant_param, validate
from brightsync.sandbox.server import MAX_LATENCY_MS, checked_latency

control = Blueprint("control", __name__, url_prefix="/_control")


@control.post("/reset")
def reset() -> Any:
    connector = crm()
    connector.reset()
    connector.control.clear_stats()
    with connector.control.lock:
        connector.control.faults.clear()
        connector.control.task_statuses = connector.settings.task_statuses
        connector.control.user_calendars = connector.settings.user_calendars
        connector.control.child_events = connector.settings.child_events
    return {"ok": True}


@control.get("/stats")
def stats() -> Any:
    return crm().control.stats()


@control.post("/stats/reset")
def reset_stats() -> Any:
    crm().control.clear_stats()
    return {"ok": True}


@control.route("/faults", methods=["GET", "POST", "DELETE"])
def faults() -> Any:
    state = crm().control
    if request.method == "DELETE":
        with state.lock:
            state.faults.clear()
        return {"ok": True}
    if request.method == "POST":
        spec = body()
        retry_after = spec.get("retryAfter")
        count = 1 if spec.get("count") is None else int(spec["count"])
        fault = Fault(
            path=str(spec.get("path") or "/api/"),
            method=(spec.get("method") or "").upper() or None,
            status=int(spec["status"]) if spec.get("status") else None,
            count=count if count > 0 else None,  # 0 or less: until DELETE
            retry_after=None if retry_after is None else str(retry_after),
            delay=min(float(spec.get("delaySeconds") or 0), MAX_FAULT_DELAY),
            message=spec.get("message"),
            match=str(spec["match"]) if spec.get("match") else None,
            after_write=bool(spec.get("afterWrite")),
        )
        with state.lock:
            state.faults.append(fault)
    with state.lock:
        return {"faults": [vars(f) for f in state.faults]}


@control.route("/settings", methods=["GET", "POST"])
def settings() -> Any:
    """`{"latencyMs": 50}`: every API answer waits that long from now on. `{"taskStatuses":
    "salesforce" | [...] | null}`: task `status` accepts only those words until the next reset
    (see `picklists`). `{"userCalendars": ["Calendar", "Sales"] | null, "childEvents": true}`:
    calendar shapes until the next reset (see `calendars`)."""
    state = crm().control
    if request.method == "POST":
        spec = body()
        known = ["childEvents", "latencyMs", "taskStatuses", "userCalendars"]
        unknown = set(spec) - set(known)
        if unknown:
            raise BadRequest(f"unknown settings {sorted(unknown)}; known: {known}")
        _calendar_settings(spec)
        if "taskStatuses" in spec:
            try:
                picklist = picklists.task_statuses(spec["taskStatuses"])
            except (TypeError, ValueError) as exc:
                raise BadRequest(str(exc)) from None
            with state.lock:
                state.task_statuses = picklist
        if "latencyMs" in spec:
            try:
                latency = checked_latency(spec["latencyMs"])
            except (TypeError, ValueError):
                raise BadRequest(
                    f"latencyMs must be a number from 0 to {MAX_LATENCY_MS:g}"
                ) from None
            with state.lock:
                state.latency_ms = latency
    with state.lock:
        picklist = state.task_statuses
        return {
            "latencyMs": state.latency_ms,
            "taskStatuses": list(picklist) if picklist is not None else None,
            "userCalendars": list(state.user_calendars or []) or None,
            "childEvents": state.child_events,
        }


def _calendar_settings(spec: dict[str, Any]) -> None:
    """`userCalendars` and `childEvents` of a settings request (400 when malformed)."""
    state = crm().control
    if "childEvents" in spec and not isinstance(spec["childEvents"], bool):
        raise BadRequest("childEvents is true or false")
    try:
        names = calendars.checked_names(spec.get("userCalendars"))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    with state.lock:
        if "userCalendars" in spec:
            state.user_calendars = names
        if "childEvents" in spec:
            state.child_events = spec["childEvents"]


@control.post("/seed")
def seed() -> Any:
    """Bulk insert {contacts:[], companies:[], opportunities:[], users:[], ...}.

    Records may carry their own `id` and `lastModifiedAt`; the answer lists what was stored.
    """
    data = body()
    unknown_kinds = set(data) - set(SCHEMAS)
    if unknown_kinds:
        raise BadRequest(f"unknown collections {sorted(unknown_kinds)}")
    store = crm().store
    stored: dict[str, list[dict[str, Any]]] = {}
    for kind, records in data.items():
        for raw in records or []:
            given_id = raw.get("id") if isinstance(raw, dict) else None
            modified = raw.get("lastModifiedAt") if isinstance(raw, dict) else None
            record = {**blank(kind), **validate(kind, raw)}
            if given_id not in (None, ""):
                record["id"] = str(given_id)
            when = stamp(instant_param(modified, "lastModifiedAt")) if modified else None
            if kind == "opportunities":
                record["lastModifiedAt"] = when
            stored.setdefault(kind, []).append(store.insert(kind, record, modified_at=when))
    return stored


@control.get("/records/<kind>")
def records(kind: str) -> Any:
    """Everything stored of one kind (`?deleted=1` includes tombstones)."""
    if kind not in SCHEMAS:
        raise NotFound(f"no collection {kind}")
    with_deleted = request.args.get("deleted") in ("1", "true")
    return crm().store.dump(kind, with_deleted=with_deleted)


@control.post("/leads/<lead_id>/convert")
def convert_lead(lead_id: str) -> Any:
    """The provider converts a lead: a contact with the lead's name and addresses is made (as
    if created through the API, so `GET /contacts?since=` lists it) and the lead is gone."""
    store = crm().store
    with store.lock:
        lead = store.get("leads", lead_id)
        if lead is None:
            raise NotFound(f"no lead {lead_id}")
        fields = ("firstName", "lastName", "emailAddresses")
        contact = {**blank("contacts"), **{k: lead.get(k) for k in fields}}
        made = store.insert("contacts", contact)
        store.delete("leads", lead_id)
    return {"lead": lead_id, "contact": made}, 201
