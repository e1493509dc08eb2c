"""The reference CRM's errors: a 400 with per-field errors, a 404 naming the record, and JSON
for every other HTTP error."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException


class BadRequest(Exception):
    """Answered 400 with `message` (and per-field errors when validation failed)."""

    def __init__(self, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class NotFound(HTTPException):
    code = 404
    name = "Not Found"


def bad_request(exc: BadRequest) -> Any:
    payload: dict[str, Any] = {"error": "invalid", "message": exc.message}
    if exc.errors is not None:
        payload["fields"] = exc.errors
    return payload, 400


def http_error(exc: HTTPException) -> Any:
    # JSON for every error, keeping headers such as Allow on a 405.
    response = exc.get_response()
    # Our own NotFound says which record; werkzeug's descriptions are long-winded.
    message = exc.description if isinstance(exc, NotFound) else exc.name
    response.data = json.dumps(
        {"error": (exc.name or "error").lower().replace(" ", "_"), "message": message}
    ).encode()
    response.content_type = "application/json"
    return response


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(BadRequest, bad_request)
    app.register_error_handler(HTTPException, http_error)
