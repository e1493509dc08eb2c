"""POST /webhooks/aurinko served in front of Flask: a WSGI layer around the app's wsgi_app.

A webhook needs none of Flask's request machinery (request context, routing, Response
objects, the hooks): the raw body, two headers and brightsync.web.webhooks.handle. So the
plain case (exact path, POST, no query string, a Content-Length within the limit) is
answered here, with what the Flask route would answer: the same status, JSON body,
Content-Type, X-Request-ID and request metrics. Everything else goes on to Flask untouched
(the validationToken handshake, chunked or oversized bodies: Werkzeug answers 413), so the
Flask route stays the single reference: tests/web compare both doors answer for answer.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from brightsync.config import Settings
from brightsync.db import OUTAGE_ERRORS
from brightsync.ops import logs, metrics
from brightsync.ops.hooks import webhook_outcome
from brightsync.web.common import database_outage
from brightsync.web.webhooks import PATH, Answer, encode, handle

log = logging.getLogger("brightsync.web")  # the Flask door's unhandled-error logger

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Werkzeug's status lines ("401 UNAUTHORIZED"), so a client sees the very same line.
_UNEXPECTED = "unexpected error; see logs"
_STATUS = {code: f"{code} {text.upper()}" for code, text in HTTP_STATUS_CODES.items()}


def body_length(environ: dict[str, Any], limit: int | None) -> int | None:
    """The declared body length when this layer can take the request, else None."""
    if environ.get("QUERY_STRING"):
        return None
    raw = environ.get("CONTENT_LENGTH")  # none for a chunked body
    if not raw or not (raw.isascii() and raw.isdigit()):
        return None
    length = int(raw)
    if limit is not None and length > limit:
        return None  # Werkzeug's 413, from the Flask door
    return length


class WebhookFastPath:
    """Wraps a Flask app's wsgi_app; `taken` counts the requests answered here (tests)."""

    def __init__(self, app: WSGIApp, settings: Settings, max_bytes: int | None) -> None:
        self.app = app
        self.settings = settings
        self.max_bytes = max_bytes
        self.taken = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        length = body_length(environ, self.max_bytes)
        if length is None:
            return self.app(environ, start_response)
        stream = environ["wsgi.input"]
        body = stream.read(length) if length else b""
        if len(body) < length:
            # The client sent less than it declared: Werkzeug's answer (400), from Flask.
            environ["wsgi.input"] = io.BytesIO(body)
            return self.app(environ, start_response)
        self.taken += 1
        rid = environ.get("HTTP_X_REQUEST_ID", "")[:64] or os.urandom(16).hex()  # as uuid4().hex
        token = logs.bind(request_id=rid)
        try:
            answer = handle(
                self.settings,
                environ.get("HTTP_X_AURINKO_REQUEST_TIMESTAMP"),
                environ.get("HTTP_X_AURINKO_SIGNATURE"),
                body,
            )
        except OUTAGE_ERRORS as exc:
            answer = Answer(503, database_outage(exc))
        except Exception:
            # As the app's error handler answers (brightsync.web.common): logged, no internals.
            log.exception("unhandled error")
            answer = Answer(500, {"error": "Internal Server Error", "message": _UNEXPECTED})
        finally:
            logs.unbind(token)
        assert not isinstance(answer, str)  # the handshake has a query string: Flask's
        if answer.outcome is not None:
            metrics.inc("brightsync_webhooks_received_total", {"outcome": answer.outcome})
        else:
            kind, label = webhook_outcome(answer.status, answer.body)
            if kind == "received":
                metrics.inc("brightsync_webhooks_received_total", {"outcome": label})
            else:
                metrics.inc("brightsync_webhooks_rejected_total", {"reason": label})
        metrics.flush_soon()
        data = encode(answer.body)
        start_response(
            _STATUS[answer.status],
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                ("X-Request-ID", rid),
            ],
        )
        return [data]
