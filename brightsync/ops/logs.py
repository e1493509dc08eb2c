"""Logging: one JSON object per line when LOG_FORMAT=json, ids attached, secrets scrubbed.

Every record carries the ids of what is being worked on (org, user, Celery task, HTTP request)
from context variables the web app and the worker set; every message and argument passes
through `redact`, which removes the configured secrets and anything shaped like a credential.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("org_id", "user_id", "task_id", "request_id", "service")
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "brightsync_log_context", default=None
)

REDACTED = "[redacted]"
# Credentials by shape: Authorization headers, and token/secret/password fields in text or JSON.
_PATTERNS = [
    re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(
        r"(?i)([\"']?(?:access_?token|accessToken|token|secret|password|api_?key|client_secret)"
        r"[\"']?\s*[:=]\s*[\"']?)([^\"'\s,&}]{3,})"
    ),
]
_SECRET_ENV = (
    "BRIGHTSYNC_ADMIN_TOKEN",
    "AURINKO_SIGNING_SECRET",
    "AURINKO_CLIENT_SECRET",
    "BRIGHTSYNC_ENCRYPTION_KEY",
    "FLOWER_BASIC_AUTH",
)


def current_context() -> dict[str, Any]:
    return dict(_context.get() or {})


def bind(**values: Any) -> contextvars.Token[dict[str, Any] | None]:
    """Add ids to the logging context of this thread/task; returns a token for `unbind`."""
    merged = {**(current_context()), **{k: v for k, v in values.items() if v is not None}}
    return _context.set(merged)


def unbind(token: contextvars.Token[dict[str, Any] | None]) -> None:
    _context.reset(token)


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    token = bind(**values)
    try:
        yield
    finally:
        unbind(token)


def _known_secrets() -> list[str]:
    values = [os.environ.get(name, "") for name in _SECRET_ENV]
    return sorted({v for v in values if len(v) >= 6}, key=len, reverse=True)


def redact(text: str, secrets: list[str] | None = None) -> str:
    for secret in secrets if secrets is not None else _known_secrets():
        text = text.replace(secret, REDACTED)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _PATTERNS[1].sub(lambda m: m.group(1) + REDACTED, text)


class RedactingFilter(logging.Filter):
    """Scrubs the formatted message (and the traceback) of every record, whatever the format."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logged as it is
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for key, value in current_context().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "pid": record.process,
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is None:
                value = current_context().get(key)
            if value is not None:
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = redact(record.exc_text)
        return json.dumps(out, default=str)


def json_enabled() -> bool:
    return os.environ.get("LOG_FORMAT", "").strip().lower() == "json"


def prepare(handler: logging.Handler) -> logging.Handler:
    """Give a handler the redaction filter (always) and the JSON format (LOG_FORMAT=json)."""
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    if json_enabled():
        handler.setFormatter(JsonFormatter())
    return handler


def configure(level: int | None = None, logger: logging.Logger | None = None) -> None:
    """Prepare every handler of `logger` (the root logger by default), adding a stderr
    handler when it has none."""
    target = logger or logging.getLogger()
    if level is not None:
        target.setLevel(level)
    if not target.handlers:
        target.addHandler(logging.StreamHandler())
    for handler in target.handlers:
        prepare(handler)
