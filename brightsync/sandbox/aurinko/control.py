"""The simulator's control API under /_control (JSON, no auth): set the scene, inject faults,
read what happened. Not part of Aurinko; tests, the demo and benchmarks drive it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from brightsync.sandbox.aurinko import auth, meetings
from brightsync.sandbox.aurinko.accounts import (
    configure_account,
    create_account,
    expire_tokens,
    reauthorize,
    set_token_status,
)
from brightsync.sandbox.aurinko.items import (
    create_record,
    delete_record,
    list_records,
    update_record,
)
from brightsync.sandbox.aurinko.mail import delete_message, deliver_mail, put_raw_message
from brightsync.sandbox.aurinko.model import Stats
from brightsync.sandbox.aurinko.records import ApiFailure
from brightsync.sandbox.aurinko.state import AurinkoSimulator
from brightsync.sandbox.aurinko.subscriptions import (
    add_subscription,
    check_subscription,
    get_subscription,
    send_lifecycle,
)
from brightsync.sandbox.aurinko.traffic import add_fault, clear_faults

KINDS = {"events": "calendar", "contacts": "contacts", "tasks": "tasks"}


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ApiFailure(400, "badRequest", "the body must be a JSON object")
    return body


def _account_out(sim: AurinkoSimulator, account_id: int) -> dict[str, Any]:
    with sim.lock:
        account = sim.account(account_id)
        counts = {
            service: len(account.feeds[sim.feed_key(account, service)].live())
            for service in ("email", "calendar", "contacts", "tasks")
        }
        return {
            "id": account.id,
            "email": account.email,
            "name": account.name,
            "provider": account.provider,
            "accessToken": account.access_token,
            "tokenStatus": account.token_status,
            "primaryCalendarId": account.primary_calendar,
            "defaultTaskListId": account.default_task_list,
            "counts": counts,
        }


def register_control(app: Flask, sim: AurinkoSimulator) -> None:
    bp = Blueprint("aurinko_control", __name__, url_prefix="/_control")

    @bp.errorhandler(ApiFailure)
    def _failure(exc: ApiFailure) -> Any:
        return jsonify(error=exc.message, code=exc.code), exc.status

    @bp.post("/reset")
    def reset() -> Any:
        sim.reset()
        return jsonify(status="ok")

    @bp.post("/settings")
    def settings() -> Any:
        return jsonify(sim.settings(_body()))

    # --- accounts ---------------------------------------------------------------------------

    @bp.post("/accounts")
    def account_create() -> Any:
        body = _body()
        options = {k: v for k, v in body.items() if k not in ("email", "name", "provider")}
        account = create_account(
            sim,
            str(body.get("email") or ""),
            body.get("name"),
            body.get("provider") or "google",
            **options,
        )
        return jsonify(_account_out(sim, account.id)), 201

    @bp.post("/bulk")
    def bulk() -> Any:
        """Many accounts (with live subscriptions, no handshake), then many messages, in one
        request for large scenarios: {"accounts": [{email, name, provider, subscriptions:
        [{resource, notificationUrl}]}], "mail": [<as POST /mail>]}."""
        body = _body()
        out = []
        for spec in body.get("accounts") or []:
            account = create_account(
                sim,
                str(spec.get("email") or ""),
                spec.get("name"),
                spec.get("provider") or "google",
            )
            subs = [
                add_subscription(sim, account, *check_subscription(sim, account, sub))
                for sub in spec.get("subscriptions") or []
            ]
            out.append(
                {
                    "id": account.id,
                    "email": account.email,
                    "accessToken": account.access_token,
                    "subscriptions": [sub.to_json() for sub in subs],
                }
            )
        delivered = sum(1 for m in body.get("mail") or [] if deliver_mail(sim, m))
        return jsonify(accounts=out, mail=delivered), 201

    @bp.post("/auth")
    def auth_settings() -> Any:
        """How the next OAuth sign-ins go: {decision: approve|deny|page, email, provider}."""
        return jsonify(auth.configure(sim, _body()))

    @bp.get("/accounts")
    def accounts() -> Any:
        with sim.lock:
            ids = sorted(sim.accounts)
        return jsonify(accounts=[_account_out(sim, i) for i in ids])

    @bp.get("/accounts/<int:account_id>")
    def account(account_id: int) -> Any:
        return jsonify(_account_out(sim, account_id))

    @bp.post("/accounts/<int:account_id>/settings")
    def account_settings(account_id: int) -> Any:
        return jsonify(configure_account(sim, account_id, _body()))

    @bp.post("/accounts/<int:account_id>/token")
    def token(account_id: int) -> Any:
        set_token_status(sim, account_id, str(_body().get("status") or ""))
        return jsonify(_account_out(sim, account_id))

    @bp.post("/accounts/<int:account_id>/reauthorize")
    def reauthorize_account(account_id: int) -> Any:
        reauthorize(sim, account_id)
        return jsonify(_account_out(sim, account_id))

    @bp.post("/accounts/<int:account_id>/expire-tokens")
    def expire(account_id: int) -> Any:
        mode = str(_body().get("mode") or "410")
        expire_tokens(sim, account_id, mode)
        return jsonify(status="ok", mode=mode)

    @bp.post("/accounts/<int:account_id>/lifecycle")
    def lifecycle(account_id: int) -> Any:
        body = _body()
        subs = send_lifecycle(
            sim,
            account_id,
            str(body.get("event") or "error"),
            body.get("error"),
            body.get("subscription"),
        )
        return jsonify(subscriptions=subs)

    # --- mailbox content --------------------------------------------------------------------

    @bp.post("/mail")
    def mail() -> Any:
        return jsonify(deliver_mail(sim, _body())), 201

    @bp.post("/accounts/<int:account_id>/messages")
    def raw_message(account_id: int) -> Any:
        body = request.get_json(silent=True)
        return jsonify(id=put_raw_message(sim, account_id, body)), 201

    @bp.get("/accounts/<int:account_id>/messages")
    def messages(account_id: int) -> Any:
        return jsonify(records=list_records(sim, account_id, "email"))

    @bp.delete("/accounts/<int:account_id>/messages/<message_id>")
    def message_delete(account_id: int, message_id: str) -> Any:
        delete_message(sim, account_id, message_id)
        return jsonify(status="ok")

    @bp.post("/meetings")
    def meeting_create() -> Any:
        """One meeting: the organizer's event plus a copy in each registered invitee's calendar
        (`responses`: {address: accepted|tentitive|declined} for the invitees' answers)."""
        return jsonify(meetings.put_meeting(sim, _body())), 201

    @bp.patch("/meetings/<path:ical_uid>")
    def meeting_update(ical_uid: str) -> Any:
        """The organizer's edit, carried to every copy."""
        return jsonify(copies=meetings.update_meeting(sim, ical_uid, _body()))

    @bp.post("/meetings/<path:ical_uid>/occurrences")
    def meeting_occurrence(ical_uid: str) -> Any:
        """A moved (`type: modified`) or cancelled (`type: deleted`) occurrence of a series."""
        return jsonify(copies=meetings.put_occurrence(sim, ical_uid, _body())), 201

    def kind_of(kind: str) -> str:
        if kind not in KINDS:
            raise ApiFailure(404, "notFound", f"unknown kind {kind!r}")
        return KINDS[kind]

    def container(service: str) -> str | None:
        if service == "calendar":
            return request.args.get("calendarId") or "primary"
        if service == "tasks":
            return request.args.get("taskListId") or "default"
        return None

    @bp.get("/accounts/<int:account_id>/<kind>")
    def records(account_id: int, kind: str) -> Any:
        return jsonify(records=list_records(sim, account_id, kind_of(kind)))

    @bp.post("/accounts/<int:account_id>/<kind>")
    def record_create(account_id: int, kind: str) -> Any:
        service = kind_of(kind)
        record = create_record(
            sim, sim.account(account_id), service, container(service), _body(), mailbox=True
        )
        return jsonify(record), 201

    @bp.patch("/accounts/<int:account_id>/<kind>/<record_id>")
    def record_update(account_id: int, kind: str, record_id: str) -> Any:
        service = kind_of(kind)
        record = update_record(
            sim,
            sim.account(account_id),
            service,
            container(service),
            record_id,
            _body(),
            if_match=None,
            mailbox=True,
        )
        return jsonify(record)

    @bp.delete("/accounts/<int:account_id>/<kind>/<record_id>")
    def record_delete(account_id: int, kind: str, record_id: str) -> Any:
        service = kind_of(kind)
        delete_record(sim, sim.account(account_id), service, container(service), record_id)
        return jsonify(status="ok")

    # --- subscriptions and webhooks ---------------------------------------------------------

    @bp.get("/subscriptions")
    def subscriptions() -> Any:
        with sim.lock:
            subs = [
                s.to_json() | {"accountId": s.account_id}
                for s in sorted(sim.subscriptions.values(), key=lambda s: s.id)
            ]
        return jsonify(subscriptions=subs)

    @bp.post("/subscriptions/<int:sub_id>")
    def subscription_state(sub_id: int) -> Any:
        body = _body()
        with sim.lock:
            sub = get_subscription(sim, None, sub_id)
            if "active" in body:
                sub.active = bool(body["active"])
            if body.get("failDescription"):
                sim.delivery_result(sub.id, False, str(body["failDescription"]))
            return jsonify(sub.to_json() | {"accountId": sub.account_id})

    @bp.get("/webhooks")
    def webhooks() -> Any:
        account_id = request.args.get("accountId", type=int)
        sub_id = request.args.get("subscription", type=int)
        return jsonify(deliveries=sim.webhooks.log(account_id, sub_id))

    @bp.post("/webhooks/flush")
    def webhooks_flush() -> Any:
        timeout = float(_body().get("timeout") or 10.0)
        return jsonify(idle=sim.webhooks.flush(timeout))

    # --- faults, statistics, request log ----------------------------------------------------

    @bp.get("/faults")
    def faults() -> Any:
        with sim.lock:
            return jsonify(faults=[f.to_json() for f in sim.faults])

    @bp.post("/faults")
    def fault_add() -> Any:
        return jsonify(add_fault(sim, _body()).to_json()), 201

    @bp.delete("/faults")
    def faults_clear() -> Any:
        clear_faults(
            sim,
        )
        return jsonify(status="ok")

    @bp.get("/stats")
    def stats() -> Any:
        with sim.lock:
            return jsonify(sim.stats.to_json())

    @bp.post("/stats/reset")
    def stats_reset() -> Any:
        with sim.lock:
            sim.stats = Stats()
            sim.requests.clear()
        return jsonify(status="ok")

    @bp.get("/requests")
    def requests_log() -> Any:
        since = request.args.get("since", type=float)
        with sim.lock:
            entries = [dict(e) for e in sim.requests if since is None or e["t"] >= since]
        return jsonify(requests=entries)

    @bp.after_request
    def _no_cache(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        return response

    app.register_blueprint(bp)
