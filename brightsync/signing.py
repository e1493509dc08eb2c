"""Aurinko webhook signatures: HMAC-SHA256 over `v0:{timestamp}:{raw body}`, lowercase hex."""

from __future__ import annotations

import hashlib
import hmac
import time


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    message = b"v0:" + str(timestamp).encode() + b":" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


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
    """Return None when the request is authentic, else the reason it is not."""
    if not timestamp or not signature:
        return "missing signature headers"
    try:
        ts = int(timestamp)
    except ValueError:
        return "malformed timestamp"
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return "timestamp outside the allowed window"
    expected = sign(secret, timestamp, body)
    # compare_digest: the time taken must not reveal how many leading characters matched.
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return "signature mismatch"
    return None
