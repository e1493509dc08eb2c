"""What every JSON blueprint of the web app shares: row ids, the admin token check, request
bodies and query numbers, and the JSON error answers (`{"error": ..., ...}` with a status).

Imports no blueprint and not the app factory (brightsync.web), so every blueprint and the
OpenAPI document can use it without an import circle.
"""

from __future__ import annotations

import hmac
import logging
from functools import wraps
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from kombu.exceptions import OperationalError as BrokerUnavailable
from marshmallow import Schema, ValidationError
from redis.exceptions import ConnectionError as RedisUnavailable
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from brightsync.config import Settings
from brightsync.db import OUTAGE_ERRORS

log = logging.getLogger("brightsync.web")

# Row ids are INTEGER columns (32-bit on PostgreSQL): a larger number in a URL names nothing.
MAX_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """`<int:…>` in every route: at most MAX_ID, so an absurd id is a 404, not a driver error."""

    def __init__(self, map, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def error_answer(message: str, status: int, **extra: Any) -> tuple[Response, int]:
    """The API's error shape: `{"error": message, ...extra}` with its status."""
    return jsonify(error=message, **extra), status


def require_admin(view: Any) -> Any:
    """Let the request through only with `Authorization: Bearer <BRIGHTSYNC_ADMIN_TOKEN>`."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings: Settings = current_app.config["BRIGHTSYNC"]
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else ""
        if not settings.admin_token:
            return error_answer("admin API disabled until BRIGHTSYNC_ADMIN_TOKEN is set", 401)
        if not given or not hmac.compare_digest(given.encode(), settings.admin_token.encode()):
            return error_answer("missing or wrong bearer token", 401)
        return view(*args, **kwargs)

    return wrapper


def load_body(schema: Schema) -> dict[str, Any]:
    """The request's JSON body loaded by `schema`; no body is `{}`, a non-JSON one a 400."""
    payload = request.get_json(silent=True)
    if payload is None and request.get_data():
        raise ValidationError({"_body": ["body is not JSON"]})
    return schema.load(payload or {})


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """Query parameter `name` as a whole number in [low, high]; absent or empty: `default`."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: ["must be a whole number"]}) from None
    if not low <= value <= high:
        raise ValidationError({name: [f"must be between {low} and {high}"]})
    return value


def database_outage(exc: Exception) -> dict[str, Any]:
    """The answer's body (503) when the database restarted or dropped its connections: the
    pool reconnects on the next request, so the caller retries (Aurinko redelivers a webhook
    answered 503). Logged as one line, without a traceback: an outage is not a bug."""
    cause = exc.__cause__ or exc
    log.warning("database unavailable: %s", (str(cause).splitlines() or [""])[0][:200])
    return {"error": "database unavailable; retry later", "reason": type(cause).__name__}


def install_error_handlers(app: Flask) -> None:
    """The app-wide error answers, registered once. Blueprints add only their own errors
    (ops_api: ActionError; review_api: ModeError, LookupError); the dashboard answers
    HTTP errors as pages. Only the JSON API blueprints raise ValidationError."""

    @app.errorhandler(ValidationError)
    def invalid_request(exc: ValidationError) -> Any:
        return error_answer("invalid request", 400, fields=exc.messages)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        return jsonify(error=exc.name, message=exc.description), exc.code

    @app.errorhandler(BrokerUnavailable)
    def broker_down(exc: BrokerUnavailable) -> Any:
        # An expected outage, not a bug: every action that queues work (sync now, resume,
        # re-sync, ...) answers 503 and the caller retries; one log line, no traceback.
        log.warning("broker unavailable: %s", exc)
        return error_answer("queue unavailable; retry later", 503, reason=str(exc)[:200])

    def database_down(exc: Exception) -> Any:
        return jsonify(database_outage(exc)), 503

    for outage in OUTAGE_ERRORS:
        app.register_error_handler(outage, database_down)

    @app.errorhandler(RedisUnavailable)
    def redis_down(exc: Exception) -> Any:
        log.warning("Redis unavailable: %s", exc)
        return error_answer("coordination store unavailable; retry later", 503)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        # Logged with its traceback for operators; the client sees no internals.
        log.exception("unhandled error")
        return error_answer("Internal Server Error", 500, message="unexpected error; see logs")
