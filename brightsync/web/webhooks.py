"""POST /webhooks/aurinko: verify, record, coalesce, enqueue — and answer fast."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, NamedTuple

from flask import Blueprint, Response, current_app, g, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brightsync import signing
from brightsync.clients.aurinko import service_for_resource
from brightsync.config import Settings
from brightsync.db import session_scope
from brightsync.models import Notification, Subscription, User, utcnow
from brightsync.sync import intake, intake_db
from brightsync.sync.queue import publish_intake
from brightsync.web.common import database_outage

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)
PATH = "/webhooks/aurinko"

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


_ID_ERROR = "must be an id: a string or integer of at most 100 characters"
_NULL = "Field may not be null."
_MISSING = "Missing data for required field."
_NOT_STRING = "Not a valid string."


def _id_error(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return _ID_ERROR
    return None if 0 < len(str(value)) <= 100 else _ID_ERROR


def _text_error(value: Any, low: int, high: int) -> str | None:
    if not isinstance(value, str):
        return _NOT_STRING
    if low <= len(value) <= high:
        return None
    if low:
        return f"Length must be between {low} and {high}."
    return f"Longer than maximum length {high}."


def read_notification(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The notification with its defaults, and the errors by field (empty when valid).

    A hand check of the few fields the intake reads (a schema library cost more than the rest
    of the request); other fields are kept as sent.
    """
    note = dict(raw)
    errors: dict[str, Any] = {}

    for name in ("resource", "accountId"):
        if name not in raw:
            errors[name] = [_MISSING]
        elif raw[name] is None:
            errors[name] = [_NULL]
    if "resource" not in errors and (problem := _text_error(raw["resource"], 1, 200)):
        errors["resource"] = [problem]
    if "accountId" not in errors and (problem := _id_error(raw["accountId"])):
        errors["accountId"] = [problem]

    note.setdefault("subscription", None)
    if note["subscription"] is not None and (problem := _id_error(note["subscription"])):
        errors["subscription"] = [problem]

    payloads = note.setdefault("payloads", [])
    if payloads is None:
        errors["payloads"] = [_NULL]
    elif not isinstance(payloads, list):
        errors["payloads"] = ["Not a valid list."]
    else:
        bad = {
            i: ["Not a valid mapping type."]
            for i, item in enumerate(payloads)
            if not isinstance(item, dict)
        }
        if bad:
            errors["payloads"] = bad

    for name, longest in (("error", None), ("lifecycleEvent", 20)):
        value = note.setdefault(name, None)
        if value is None:
            continue
        if not isinstance(value, str):
            errors[name] = [_NOT_STRING]
        elif longest is not None and len(value) > longest:
            errors[name] = [f"Longer than maximum length {longest}."]
    return note, errors


class Answer(NamedTuple):
    """The webhook's answer, decided without Flask: both doors (the Flask route and the WSGI
    fast path in brightsync.web.fastpath) send it as it is."""

    status: int
    body: dict[str, Any]
    outcome: str | None = None  # an accepted notification's outcome, for the request metrics


def _answer(**body: str) -> Answer:
    return Answer(200, body, body["status"])


def _refused(message: str, status: int, **extra: Any) -> Answer:
    """The API's error shape, as brightsync.web.common.error_answer makes it."""
    return Answer(status, {"error": message, **extra})


# The few bodies accepted notifications are answered with, encoded once.
_ENCODED: dict[tuple[tuple[str, Any], ...], bytes] = {}


def encode(body: dict[str, Any]) -> bytes:
    """`body` as Flask's jsonify encodes it (compact, ASCII, a closing newline)."""
    key = tuple(body.items()) if "error" not in body else ()
    data = _ENCODED.get(key) if key else None
    if data is None:
        data = json.dumps(body, separators=(",", ":")).encode() + b"\n"
        if key and len(_ENCODED) < 64:  # the fixed answers, not echoes of input
            _ENCODED[key] = data
    return data


@bp.post(PATH)
def receive() -> Any:
    """The Flask door: requests the fast path passes on (no Content-Length, a query string
    such as the validationToken handshake, a body over the limit) and direct app calls."""
    settings: Settings = current_app.config["BRIGHTSYNC"]
    if request.query_string:
        token = request.args.get("validationToken")
    else:
        token = None
    answer = handle(
        settings,
        request.headers.get("X-Aurinko-Request-Timestamp"),
        request.headers.get("X-Aurinko-Signature"),
        request.get_data(cache=True),  # raw bytes: the signature covers them exactly
        token,
    )
    if isinstance(answer, str):
        return Response(answer, status=200, content_type="text/plain")
    if answer.outcome is not None:
        g.brightsync_webhook_outcome = answer.outcome
    return current_app.response_class(
        encode(answer.body), status=answer.status, mimetype="application/json"
    )


def handle(
    settings: Settings,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    token: str | None = None,
) -> Answer | str:
    """Verify, recognise a replay, make the one durable mark, decide the answer: an Answer, or
    the handshake's `token` (echoed as plain text) once the request is authentic."""
    if not settings.aurinko_signing_secret:
        return _refused("webhooks are refused until AURINKO_SIGNING_SECRET is set", 401)
    reason = signing.verify(
        settings.aurinko_signing_secret,
        timestamp,
        signature,
        body,
        tolerance=settings.webhook_tolerance_seconds,
    )
    if reason is not None:
        log.warning("webhook rejected: %s", reason)
        return _refused(reason, 401)
    if token is not None:
        return token

    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _refused("body is not JSON", 400)
    except RecursionError:
        return _refused(f"body nests deeper than {MAX_JSON_DEPTH} levels", 400)
    if not isinstance(raw, dict):
        return _refused("body must be a JSON object", 400)
    # Fewer brackets than the limit cannot nest deeper than it: the walk only for the rest.
    brackets = body.count(b"[") + body.count(b"{")
    if brackets > MAX_JSON_DEPTH and json_depth_exceeds(raw, MAX_JSON_DEPTH):
        return _refused(f"body nests deeper than {MAX_JSON_DEPTH} levels", 400)
    note, errors = read_notification(raw)
    if errors:
        return _refused("invalid notification", 400, fields=errors)

    digest = hashlib.sha256(f"{timestamp}:".encode() + body).hexdigest()
    if note["lifecycleEvent"]:
        return _lifecycle_notification(note, digest)
    service = service_for_resource(note["resource"])
    if intake.enabled(settings):
        return _accept_fast(settings, note, digest, service)
    return _accept_in_database(note, digest, service)


def _accept_fast(
    settings: Settings, note: dict[str, Any], digest: str, service: str | None
) -> Answer:
    """Redis deployments: one Redis round trip; a worker resolves the account and audits."""
    try:
        outcome = intake.accept(settings, note, digest)
    except Exception as exc:
        log.warning("intake refused the notification: %r", exc)
        return _refused("queue unavailable; retry later", 503)
    if outcome == "duplicate":
        return _answer(status="duplicate")
    if service is None:
        return _answer(status="ignored", reason="resource not synced")
    return _answer(status=outcome, service=service)


def _accept_in_database(note: dict[str, Any], digest: str, service: str | None) -> Answer:
    """The embedded default: one transaction, then the broker for the first of a burst."""
    try:
        outcome, user_id = intake_db.accept(note, digest, service)
    except intake_db.Replay:
        return _answer(status="duplicate")
    except intake_db.Unavailable as exc:
        return Answer(503, database_outage(exc))
    if outcome == "unknown account":
        log.info("notification for unknown Aurinko account %s ignored", note["accountId"])
        return _answer(status="ignored", reason="unknown account")
    if outcome == "not synced":
        return _answer(status="ignored", reason="resource not synced for this user")
    assert user_id is not None and service is not None
    if outcome == "enqueued":
        try:
            publish_intake(user_id, service)
        except Exception as exc:
            # An expected outage, not a bug: one line without a traceback.
            log.warning("broker refused the sync task for user %s/%s: %r", user_id, service, exc)
            # Undone: Aurinko redelivers and the redelivery must not look like a replay.
            intake_db.unaccept(digest, user_id, service)
            return _refused("queue unavailable; retry later", 503)
    return _answer(status=outcome, service=service)


def _lifecycle_notification(note: dict[str, Any], digest: str) -> Answer:
    """A subscription's lifecycle event (rare): recorded in the database on every deployment."""
    account_id = str(note["accountId"])
    try:
        with session_scope() as s:
            user_id = s.scalar(select(User.id).where(User.aurinko_account_id == account_id))
            if user_id is not None:
                _lifecycle(s, user_id, note)
            outcome = "lifecycle" if user_id is not None else "ignored"
            s.add(Notification(**intake.audit_row(note, digest, outcome, user_id)))
            s.flush()  # a delivery seen before fails here, before anything commits
    except IntegrityError:
        return _answer(status="duplicate")
    if user_id is None:
        log.info("notification for unknown Aurinko account %s ignored", account_id)
        return _answer(status="ignored", reason="unknown account")
    return Answer(200, {"status": "recorded", "lifecycleEvent": note["lifecycleEvent"]})


def _lifecycle(s: Session, user_id: int, note: dict[str, Any]) -> None:
    event = note["lifecycleEvent"]
    subs = s.scalars(select(Subscription).where(Subscription.user_id == user_id)).all()
    sub_id = str(note["subscription"]) if note["subscription"] is not None else None
    targets = [x for x in subs if sub_id and x.aurinko_id == sub_id] or [
        x for x in subs if x.resource == note["resource"]
    ]
    for sub in targets:
        sub.state = "error" if event == "error" else "active"
        sub.last_error = (note["error"] or "lifecycle error")[:1000] if event == "error" else None
        sub.updated_at = utcnow()
