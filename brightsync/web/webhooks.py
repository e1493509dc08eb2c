"""POST /webhooks/aurinko: verify, record, coalesce, enqueue — and answer fast."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from brightsync import signing
from brightsync.clients.aurinko import service_for_resource
from brightsync.config import Settings
from brightsync.db import session_scope
from brightsync.models import Notification, Subscription, User, utcnow
from brightsync.sync import intake, scheduler
from brightsync.sync.jobs import publish_intake

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)

# A notification is a flat object with a list of small payloads; nothing Aurinko sends nests
# deeper than a handful of levels.
MAX_JSON_DEPTH = 32


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when `value` nests containers deeper than `limit` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _id_like(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError("must be an id: a string or integer of at most 100 characters")
    if not 0 < len(str(value)) <= 100:
        raise ValidationError("must be an id: a string or integer of at most 100 characters")


class NotificationSchema(Schema):
    class Meta:
        unknown = INCLUDE

    subscription = fields.Raw(load_default=None, allow_none=True, validate=_id_like)
    resource = fields.String(required=True, validate=validate.Length(1, 200))
    accountId = fields.Raw(required=True, validate=_id_like)
    payloads = fields.List(fields.Dict(), load_default=list)
    error = fields.String(load_default=None, allow_none=True)
    lifecycleEvent = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=20)
    )


_SCHEMA = NotificationSchema()  # built once: a schema's load keeps no state between calls


def _problem(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


@bp.post("/webhooks/aurinko")
def receive() -> Any:
    settings: Settings = current_app.config["BRIGHTSYNC"]
    if not settings.aurinko_signing_secret:
        return _problem(401, "webhooks are refused until AURINKO_SIGNING_SECRET is set")
    body = request.get_data(cache=True)  # raw bytes: the signature covers them exactly
    timestamp = request.headers.get("X-Aurinko-Request-Timestamp")
    reason = signing.verify(
        settings.aurinko_signing_secret,
        timestamp,
        request.headers.get("X-Aurinko-Signature"),
        body,
        tolerance=settings.webhook_tolerance_seconds,
    )
    if reason is not None:
        log.warning("webhook rejected: %s", reason)
        return _problem(401, reason)

    token = request.args.get("validationToken")
    if token is not None:
        return Response(token, status=200, content_type="text/plain")

    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _problem(400, "body is not JSON")
    except RecursionError:
        return _problem(400, f"body nests deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(raw, dict):
        return _problem(400, "body must be a JSON object")
    if json_depth_exceeds(raw, MAX_JSON_DEPTH):
        return _problem(400, f"body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        note = _SCHEMA.load(raw)
    except ValidationError as exc:
        return jsonify(error="invalid notification", fields=exc.messages), 400

    digest = hashlib.sha256(f"{timestamp}:".encode() + body).hexdigest()
    return _handle(note, digest)


def _notification(
    note: dict[str, Any], digest: str, outcome: str, user_id: int | None
) -> Notification:
    return Notification(
        digest=digest,
        account_id=str(note["accountId"]),
        resource=note["resource"][:200],
        subscription=str(note["subscription"])[:100] if note["subscription"] is not None else None,
        user_id=user_id,
        lifecycle_event=note["lifecycleEvent"],
        payload_count=len(note["payloads"]),
        outcome=outcome,
    )


def _record(note: dict[str, Any], digest: str, outcome: str, user_id: int | None) -> None:
    try:
        with session_scope() as s:
            s.add(_notification(note, digest, outcome, user_id))
    except IntegrityError:
        pass  # the same delivery raced in twice; one record is enough


def _accept_fast(settings: Settings, note: dict[str, Any], digest: str) -> Any:
    """Redis deployments: one Redis round trip; a worker resolves the account and audits."""
    try:
        outcome = intake.accept(settings, note, digest)
    except Exception as exc:
        log.warning("intake refused the notification: %r", exc)
        return _problem(503, "queue unavailable; retry later")
    service = service_for_resource(note["resource"])
    if outcome == "duplicate":
        return jsonify(status="duplicate")
    if service is None:
        return jsonify(status="ignored", reason="resource not synced")
    return jsonify(status=outcome, service=service)


def _handle(note: dict[str, Any], digest: str) -> Any:
    settings: Settings = current_app.config["BRIGHTSYNC"]
    if intake.enabled(settings) and not note["lifecycleEvent"]:
        return _accept_fast(settings, note, digest)
    account_id = str(note["accountId"])
    service = service_for_resource(note["resource"])
    published = False
    try:
        with session_scope() as s:
            if s.scalar(select(Notification.id).where(Notification.digest == digest)) is not None:
                return jsonify(status="duplicate")
            user = s.scalar(select(User).where(User.aurinko_account_id == account_id))
            user_id = user.id if user else None
            services = list(user.services or []) if user else []
            synced = user_id is not None and not note["lifecycleEvent"] and service in services
            if synced:
                # The common case in one transaction: request (coalescing) and audit row.
                published = scheduler.request_run(s, user_id, service)
                outcome = "enqueued" if published else "coalesced"
                s.add(_notification(note, digest, outcome, user_id))
                s.flush()  # a delivery racing in twice fails here, before anything commits
    except IntegrityError:
        return jsonify(status="duplicate")

    if synced:
        if published:
            try:
                publish_intake(user_id, service)
            except Exception as exc:
                # An expected outage, not a bug: one line without a traceback.
                log.warning(
                    "broker refused the sync task for user %s/%s: %r", user_id, service, exc
                )
                # Undone: Aurinko redelivers and the redelivery must not look like a replay.
                _unrecord(digest, user_id, service)
                return _problem(503, "queue unavailable; retry later")
        return jsonify(status=outcome, service=service)

    if user_id is None:
        log.info("notification for unknown Aurinko account %s ignored", account_id)
        _record(note, digest, "ignored", None)
        return jsonify(status="ignored", reason="unknown account")

    if note["lifecycleEvent"]:
        _lifecycle(user_id, note)
        _record(note, digest, "lifecycle", user_id)
        return jsonify(status="recorded", lifecycleEvent=note["lifecycleEvent"])

    _record(note, digest, "ignored", user_id)
    return jsonify(status="ignored", reason="resource not synced for this user")


def _unrecord(digest: str, user_id: int, service: str) -> None:
    with session_scope() as s:
        s.execute(delete(Notification).where(Notification.digest == digest))
    scheduler.cancel_request(user_id, service)


def _lifecycle(user_id: int, note: dict[str, Any]) -> None:
    event = note["lifecycleEvent"]
    with session_scope() as s:
        subs = s.scalars(select(Subscription).where(Subscription.user_id == user_id)).all()
        sub_id = str(note["subscription"]) if note["subscription"] is not None else None
        targets = [x for x in subs if sub_id and x.aurinko_id == sub_id] or [
            x for x in subs if x.resource == note["resource"]
        ]
        for sub in targets:
            sub.state = "error" if event == "error" else "active"
            sub.last_error = (
                (note["error"] or "lifecycle error")[:1000] if event == "error" else None
            )
            sub.updated_at = utcnow()
