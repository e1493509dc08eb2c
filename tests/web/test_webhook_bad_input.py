"""Whatever an unauthenticated client sends to the webhook: a 4xx with a reason, never a 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brightsync.signing import sign, signed_headers
from brightsync.web.webhooks import json_depth_exceeds
from tests.conftest import SIGNING_SECRET
from tests.web.test_webhooks import URL, note, post, queued_messages


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Aurinko-Signature": "é" * 64}, "malformed signature"),
        ({"X-Aurinko-Signature": "ü"}, "malformed signature"),
        ({"X-Aurinko-Signature": "zz" * 32}, "malformed signature"),
        ({"X-Aurinko-Request-Timestamp": "9" * 400}, "malformed timestamp"),
        ({"X-Aurinko-Request-Timestamp": "-1700000000"}, "malformed timestamp"),
        ({"X-Aurinko-Request-Timestamp": "1e9"}, "malformed timestamp"),
        ({"X-Aurinko-Request-Timestamp": "１７００"}, "malformed timestamp"),
        ({"X-Aurinko-Request-Timestamp": "1" * 5000}, "malformed timestamp"),
    ],
)
def test_odd_signature_headers_are_401_with_a_reason(client, unit_env, headers, reason):
    r = post(client, note(), headers=headers)
    assert r.status_code == 401
    assert reason in r.get_json()["error"]
    assert queued_messages(unit_env) == 0


def test_a_signed_400_digit_timestamp_is_refused_not_crashed(client):
    raw = json.dumps(note()).encode()
    ts = "9" * 400
    headers = {
        "X-Aurinko-Request-Timestamp": ts,
        "X-Aurinko-Signature": sign(SIGNING_SECRET, ts, raw),
    }
    r = client.post(URL, data=raw, headers=headers)
    assert r.status_code == 401
    assert r.get_json()["error"] == "malformed timestamp"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
        (
            b'{"resource": "/email/messages", "accountId": 1, "x": ' + b"[" * 40 + b"]" * 40 + b"}",
            "nests deeper",
        ),
        (
            b'{"resource": "/email/messages", "accountId": 1, "a": '
            + b'{"b": ' * 5000
            + b"1"
            + b"}" * 5001,
            "nests deeper",
        ),
        (b'{"resource": "/email/messages", "accountId": ' + b"9" * 5000 + b"}", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (
            json.dumps({"resource": "/email/messages", "accountId": "a" * 101}).encode(),
            "invalid notification",
        ),
        (
            json.dumps(
                {"resource": "/email/messages", "accountId": 1, "lifecycleEvent": "x" * 21}
            ).encode(),
            "invalid notification",
        ),
        (
            json.dumps(
                {"resource": "/email/messages", "accountId": 1, "subscription": [1]}
            ).encode(),
            "invalid notification",
        ),
        (
            json.dumps(
                {"resource": "/email/messages", "accountId": 1, "payloads": [1, "x"]}
            ).encode(),
            "invalid notification",
        ),
        (json.dumps({"resource": "r" * 201, "accountId": 1}).encode(), "invalid notification"),
        (b"NaN", "must be a JSON object"),
    ],
)
def test_signed_odd_bodies_are_400_with_a_reason(client, unit_env, body, fragment):
    r = post(client, body)
    assert r.status_code == 400, r.data
    assert fragment in r.get_json()["error"]
    assert queued_messages(unit_env) == 0


def test_depth_check_is_iterative_and_exact():
    assert not json_depth_exceeds({"a": [1, {"b": 2}]}, 3)
    assert json_depth_exceeds({"a": [1, {"b": {}}]}, 3)
    deep: list = []
    for _ in range(100_000):  # far beyond the recursion limit
        deep = [deep]
    assert json_depth_exceeds(deep, 32)


# Header values as a client can send them (HTTP carries bytes; WSGI hands them over as latin-1).
_header_text = st.text(
    st.characters(max_codepoint=0xFF, exclude_characters="\r\n\x00"), max_size=80
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=30,
)
_bodies = st.one_of(
    st.binary(max_size=200),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"resource": _json_values, "accountId": _json_values},
        optional={
            "subscription": _json_values,
            "payloads": _json_values,
            "lifecycleEvent": _json_values,
            "error": _json_values,
        },
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=_bodies,
    timestamp=st.one_of(st.none(), _header_text),
    signature=st.one_of(st.none(), _header_text),
    sign_it=st.booleans(),
    content_type=st.one_of(st.none(), _header_text),
)
def test_any_request_is_answered_without_a_server_error(
    client, body, timestamp, signature, sign_it, content_type
):
    headers = signed_headers(SIGNING_SECRET, body) if sign_it else {}
    if not sign_it:
        if timestamp is not None:
            headers["X-Aurinko-Request-Timestamp"] = timestamp
        if signature is not None:
            headers["X-Aurinko-Signature"] = signature
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = client.post(URL, data=body, headers=headers)
    assert r.status_code < 500, r.data
    if r.status_code >= 400:
        assert r.get_json()["error"]
