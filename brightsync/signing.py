"""Aurinko webhook signatures: HMAC-SHA256 over `v0:{timestamp}:{raw body}`, lowercase hex."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

# Unix seconds: ten digits today; anything longer than 15 is no timestamp (and would
# overflow float arithmetic long before 400 digits).
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    message = b"v0:" + str(timestamp).encode() + b":" + body
    # hmac.digest: the one-shot C implementation (a webhook's cost is counted in microseconds)
    return hmac.digest(secret.encode(), message, hashlib.sha256).hex()


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Aurinko sends with a notification; the simulator and tests use this."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Aurinko-Request-Timestamp": ts, "X-Aurinko-Signature": sign(secret, ts, body)}


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> str | None:
    """Return None when the request is authentic, else the reason it is not.

    Header values are whatever a client sent: check their shape before any arithmetic or
    digest comparison (a 400-digit timestamp overflows float, non-ASCII text cannot be
    compared in constant time), so every malformed header is a reason, never an exception.
    """
    if not timestamp or not signature:
        return "missing signature headers"
    timestamp = timestamp.strip()
    if not _TIMESTAMP.fullmatch(timestamp):
        return "malformed timestamp"
    signature = signature.strip()
    if not _SIGNATURE.fullmatch(signature):
        return "malformed signature (expected 64 hex digits)"
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return "timestamp outside the allowed window"
    expected = sign(secret, timestamp, body)
    # compare_digest: the time taken must not reveal how many leading characters matched.
    if not hmac.compare_digest(expected, signature.lower()):
        return "signature mismatch"
    return None
