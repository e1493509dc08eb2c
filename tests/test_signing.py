"""Webhook signatures exactly as Aurinko computes them."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from brightsync import signing


def test_signature_is_hmac_sha256_of_v0_timestamp_body():
    body = b'{"accountId": 1}'
    expected = hmac.new(b"k", b"v0:1700000000:" + body, hashlib.sha256).hexdigest()
    assert signing.sign("k", 1700000000, body) == expected


def test_verify_reasons():
    body = b"{}"
    good = signing.sign("k", 1000, body)
    assert signing.verify("k", "1000", good, body, now=1000) is None
    assert signing.verify("k", "1000", good.upper(), body, now=1000) is None
    assert signing.verify("k", None, good, body, now=1000) == "missing signature headers"
    assert signing.verify("k", "abc", good, body, now=1000) == "malformed timestamp"
    assert (
        signing.verify("k", "1000", good, body, now=1301) == "timestamp outside the allowed window"
    )
    assert signing.verify("k", "1000", good, body + b" ", now=1000) == "signature mismatch"
    assert signing.verify("other", "1000", good, body, now=1000) == "signature mismatch"


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=2**40))
def test_round_trip(body, ts):
    headers = signing.signed_headers("secret", body, timestamp=ts)
    assert (
        signing.verify(
            "secret",
            headers["X-Aurinko-Request-Timestamp"],
            headers["X-Aurinko-Signature"],
            body,
            now=ts,
        )
        is None
    )
