"""The simulated Aurinko REST API under /v1 (paths, parameters and shapes of its OpenAPI).

The routes only; what every request goes through first (statistics, latency, faults,
authentication) is intake.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, jsonify, redirect, request

from brightsync.sandbox.aurinko import auth, meetings
from brightsync.sandbox.aurinko import records as R
from brightsync.sandbox.aurinko.accounts import account_json
from brightsync.sandbox.aurinko.delta import delta, start_sync
from brightsync.sandbox.aurinko.intake import OPERATIONS, register_intake
from brightsync.sandbox.aurinko.items import (
    create_record,
    delete_record,
    get_record,
    list_calendars,
    list_task_lists,
    update_record,
)
from brightsync.sandbox.aurinko.mail import get_attachment, get_message, trash_message
from brightsync.sandbox.aurinko.records import ApiFailure, bad_request
from brightsync.sandbox.aurinko.state import AurinkoSimulator
from brightsync.sandbox.aurinko.subscriptions import (
    add_subscription,
    check_subscription,
    delete_subscription,
    get_subscription,
    list_subscriptions,
)


def _bool(name: str, default: bool) -> bool:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise bad_request(f"{name} must be true or false")


def _int(name: str, default: int | None, minimum: int = 0) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer") from None
    if value < minimum:
        raise bad_request(f"{name} must be at least {minimum}")
    return value


def _time(name: str, *, required: bool) -> float | None:
    raw = request.args.get(name)
    if not raw:
        if required:
            raise bad_request(f"{name} is required")
        return None
    value = R.parse_time(raw)
    if value is None:
        raise bad_request(f"{name} must be an RFC 3339 timestamp")
    return value


def _body_type(default: str = "html") -> str:
    value = request.args.get("bodyType") or default
    if value not in ("html", "text"):
        raise bad_request("bodyType must be html or text")
    return value


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise bad_request("the body must be JSON")
    return body


def register_api(app: Flask, sim: AurinkoSimulator) -> None:
    def route(rule: str, op: str, methods: tuple[str, ...] = ("GET",)) -> Callable:
        def decorator(view: Callable) -> Callable:
            endpoint = "v1_" + op.replace(".", "_")
            OPERATIONS[endpoint] = op
            app.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=list(methods))
            return view

        return decorator

    register_intake(app, sim)

    # --- account ----------------------------------------------------------------------------

    @route("/v1/account", "account.get")
    def account() -> Any:
        return jsonify(account_json(g.account))

    # --- the account OAuth flow (auth.py) ----------------------------------------------------

    @route("/v1/auth/authorize", "auth.authorize", ("GET", "POST"))
    def authorize() -> Any:
        if request.method == "POST":  # the simulator's consent page answered
            decision = request.form.get("decision") or "deny"
            return redirect(auth.decide(sim, request.form, decision), code=303)
        kind, answer = auth.authorize(sim, request.args)
        if kind == "page":
            return Response(answer, mimetype="text/html")
        return redirect(answer, code=303)

    @route("/v1/auth/token/<code>", "auth.token", ("POST",))
    def auth_token(code: str) -> Any:
        return jsonify(auth.exchange(sim, code, g.client_id))

    # --- sync, one set of three routes per service --------------------------------------------

    def sync_params(service: str) -> dict[str, Any]:
        if service == "email":
            return {"days_within": _int("daysWithin", None), "body_type": _body_type()}
        if service == "calendar":
            time_min = _time("timeMin", required=True)
            time_max = _time("timeMax", required=True)
            assert time_min is not None and time_max is not None
            if time_min >= time_max:
                raise bad_request("timeMin must be smaller than timeMax")
            return {"time_min": time_min, "time_max": time_max}
        if service == "tasks":
            return {"skip_completed_before": _time("skipCompletedBeforeDate", required=False)}
        return {}

    def sync_start(service: str, container: str | None) -> Any:
        return jsonify(start_sync(sim, g.account, service, container, **sync_params(service)))

    def sync_delta(service: str, container: str | None, kind: str) -> Any:
        page = delta(
            sim,
            g.account,
            service,
            container,
            kind,
            request.args.get("deltaToken") or None,
            request.args.get("pageToken") or None,
        )
        return jsonify(page)

    @route("/v1/email/sync", "email.sync.start", ("POST",))
    def email_sync() -> Any:
        return sync_start("email", None)

    @route("/v1/email/sync/updated", "email.sync.updated")
    def email_updated() -> Any:
        return sync_delta("email", None, "updated")

    @route("/v1/email/sync/deleted", "email.sync.deleted")
    def email_deleted() -> Any:
        return sync_delta("email", None, "deleted")

    @route("/v1/calendars/<calendar_id>/sync", "calendar.sync.start", ("POST",))
    def calendar_sync(calendar_id: str) -> Any:
        return sync_start("calendar", calendar_id)

    @route("/v1/calendars/<calendar_id>/sync/updated", "calendar.sync.updated")
    def calendar_updated(calendar_id: str) -> Any:
        return sync_delta("calendar", calendar_id, "updated")

    @route("/v1/calendars/<calendar_id>/sync/deleted", "calendar.sync.deleted")
    def calendar_deleted(calendar_id: str) -> Any:
        return sync_delta("calendar", calendar_id, "deleted")

    @route("/v1/contacts/sync", "contacts.sync.start", ("POST",))
    def contacts_sync() -> Any:
        return sync_start("contacts", None)

    @route("/v1/contacts/sync/updated", "contacts.sync.updated")
    def contacts_updated() -> Any:
        return sync_delta("contacts", None, "updated")

    @route("/v1/contacts/sync/deleted", "contacts.sync.deleted")
    def contacts_deleted() -> Any:
        return sync_delta("contacts", None, "deleted")

    @route("/v1/tasklists/<list_id>/sync", "tasks.sync.start", ("POST",))
    def tasks_sync(list_id: str) -> Any:
        return sync_start("tasks", list_id)

    @route("/v1/tasklists/<list_id>/sync/updated", "tasks.sync.updated")
    def tasks_updated(list_id: str) -> Any:
        return sync_delta("tasks", list_id, "updated")

    @route("/v1/tasklists/<list_id>/sync/deleted", "tasks.sync.deleted")
    def tasks_deleted(list_id: str) -> Any:
        return sync_delta("tasks", list_id, "deleted")

    # --- messages ---------------------------------------------------------------------------

    @route("/v1/email/messages/<message_id>", "message.get")
    def message(message_id: str) -> Any:
        inlines = _bool("loadInlines", False)
        return jsonify(get_message(sim, g.account, message_id, _body_type(), inlines))

    @route("/v1/email/messages/<message_id>/attachments/<attachment_id>", "message.attachment")
    def message_attachment(message_id: str, attachment_id: str) -> Any:
        return jsonify(content=get_attachment(sim, g.account, message_id, attachment_id))

    @route("/v1/email/messages/<message_id>", "message.delete", ("DELETE",))
    def message_delete(message_id: str) -> Any:
        trash_message(sim, g.account, message_id)
        return jsonify(status="Ok")

    # --- calendars and events ---------------------------------------------------------------

    @route("/v1/calendars", "calendars.list")
    def calendars() -> Any:
        records = list_calendars(g.account)
        return jsonify(length=len(records), records=records)

    @route("/v1/calendars/<calendar_id>", "calendar.get")
    def calendar(calendar_id: str) -> Any:
        sim.feed_key(g.account, "calendar", calendar_id)
        return jsonify(list_calendars(g.account)[0])

    def event_answer(record: dict[str, Any], status: int) -> Any:
        out: dict[str, Any] = {"id": record["id"], "etag": record["etag"]}
        if record.get("iCalUid"):
            out["iCalUId"] = record["iCalUid"]  # sic: the create/update answer spells it so
        if _bool("returnRecord", True):
            out["record"] = record
        return jsonify(out), status

    @route("/v1/calendars/<calendar_id>/events", "event.create", ("POST",))
    def event_create(calendar_id: str) -> Any:
        _bool("notifyAttendees", True)
        record = create_record(sim, g.account, "calendar", calendar_id, _json_body())
        meetings.propagate(sim, g.account, record, deleted=False)
        return event_answer(record, 201)

    @route("/v1/calendars/<calendar_id>/events/<master_id>/series", "event.series")
    def event_series(calendar_id: str, master_id: str) -> Any:
        sim.feed_key(g.account, "calendar", calendar_id)
        return jsonify(meetings.series_info(sim, g.account, master_id))

    @route("/v1/calendars/<calendar_id>/events/<event_id>", "event.get")
    def event_get(calendar_id: str, event_id: str) -> Any:
        return jsonify(get_record(sim, g.account, "calendar", calendar_id, event_id))

    @route("/v1/calendars/<calendar_id>/events/<event_id>", "event.update", ("PATCH",))
    def event_update(calendar_id: str, event_id: str) -> Any:
        _bool("notifyAttendees", True)
        if_match = request.headers.get("If-Match")
        if not if_match:
            raise bad_request("the If-Match header is required")
        meetings.check_api_write(sim, g.account, event_id)
        record = update_record(
            sim, g.account, "calendar", calendar_id, event_id, _json_body(), if_match=if_match
        )
        meetings.propagate(sim, g.account, record, deleted=False)
        return event_answer(record, 200)

    @route("/v1/calendars/<calendar_id>/events/<event_id>", "event.delete", ("DELETE",))
    def event_delete(calendar_id: str, event_id: str) -> Any:
        _bool("notifyAttendees", True)
        meetings.check_api_write(sim, g.account, event_id)
        record = get_record(sim, g.account, "calendar", calendar_id, event_id)
        delete_record(sim, g.account, "calendar", calendar_id, event_id)
        meetings.propagate(sim, g.account, record, deleted=True)
        return Response(status=200)

    # --- contacts ---------------------------------------------------------------------------

    def or_id(record: dict[str, Any], status: int) -> Any:
        return jsonify(id=record["id"], etag=record["etag"], record=record), status

    @route("/v1/contacts", "contact.create", ("POST",))
    def contact_create() -> Any:
        return or_id(create_record(sim, g.account, "contacts", None, _json_body()), 201)

    @route("/v1/contacts/<contact_id>", "contact.get")
    def contact_get(contact_id: str) -> Any:
        return jsonify(get_record(sim, g.account, "contacts", None, contact_id))

    @route("/v1/contacts/<contact_id>", "contact.update", ("PATCH",))
    def contact_update(contact_id: str) -> Any:
        if_match = request.headers.get("If-Match")
        if not if_match:
            raise bad_request("the If-Match header is required")
        record = update_record(
            sim, g.account, "contacts", None, contact_id, _json_body(), if_match=if_match
        )
        return or_id(record, 200)

    @route("/v1/contacts/<contact_id>", "contact.delete", ("DELETE",))
    def contact_delete(contact_id: str) -> Any:
        delete_record(sim, g.account, "contacts", None, contact_id)
        return Response(status=200)

    # --- task lists and tasks ---------------------------------------------------------------

    @route("/v1/tasklists", "tasklists.list")
    def task_lists() -> Any:
        records = list_task_lists(g.account)
        return jsonify(length=len(records), records=records)

    @route("/v1/tasklists/<list_id>/tasks", "task.create", ("POST",))
    def task_create(list_id: str) -> Any:
        return or_id(create_record(sim, g.account, "tasks", list_id, _json_body()), 201)

    @route("/v1/tasklists/<list_id>/tasks/<task_id>", "task.get")
    def task_get(list_id: str, task_id: str) -> Any:
        return jsonify(get_record(sim, g.account, "tasks", list_id, task_id))

    @route("/v1/tasklists/<list_id>/tasks/<task_id>", "task.update", ("PATCH",))
    def task_update(list_id: str, task_id: str) -> Any:
        record = update_record(
            sim,
            g.account,
            "tasks",
            list_id,
            task_id,
            _json_body(),
            if_match=request.headers.get("If-Match") or None,
        )
        return or_id(record, 200)

    @route("/v1/tasklists/<list_id>/tasks/<task_id>", "task.delete", ("DELETE",))
    def task_delete(list_id: str, task_id: str) -> Any:
        delete_record(sim, g.account, "tasks", list_id, task_id)
        return jsonify(status="Ok")

    # --- subscriptions ----------------------------------------------------------------------

    @route("/v1/subscriptions", "subscription.create", ("POST",))
    def subscription_create() -> Any:
        resource, url, filters = check_subscription(sim, g.account, _json_body())
        ok, detail = sim.webhooks.handshake(url, account_id=g.account.id)
        if not ok:
            raise ApiFailure(400, "badRequest", f"notificationUrl verification failed: {detail}")
        sub = add_subscription(sim, g.account, resource, url, filters)
        return jsonify(sub.to_json())

    @route("/v1/subscriptions", "subscriptions.list")
    def subscriptions() -> Any:
        limit = _int("limit", 50, minimum=1)
        offset = _int("offset", 0)
        assert limit is not None and offset is not None
        page = list_subscriptions(sim, g.account, limit, offset, _bool("includeInactive", False))
        return jsonify(page)

    @route("/v1/subscriptions/<sub_id>", "subscription.get")
    def subscription(sub_id: str) -> Any:
        return jsonify(get_subscription(sim, g.account, sub_id).to_json())

    @route("/v1/subscriptions/<sub_id>", "subscription.delete", ("DELETE",))
    def subscription_delete(sub_id: str) -> Any:
        delete_subscription(sim, g.account, sub_id)
        return Response(status=200)
