"""The connect flow's pure parts: the signed state, scopes, the authorize URL, the decision."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from brightsync.connect.state import (
    STATE_SECONDS,
    Existing,
    Expected,
    authorize_url,
    decide,
    make_state,
    read_state,
    scopes_for,
)

KEY, OLD_KEY = "k" * 64, "o" * 64


def test_a_state_reads_back_under_any_current_key_within_its_lifetime():
    state = make_state(OLD_KEY, "nonce1", 1_000_000)
    assert read_state([KEY, OLD_KEY], state, 1_000_000 + STATE_SECONDS) == ("nonce1", None)


def test_expired_forged_and_malformed_states_are_refused_with_a_reason():
    state = make_state(KEY, "nonce1", 1_000_000)
    nonce, reason = read_state([KEY], state, 1_000_000 + STATE_SECONDS + 1)
    assert nonce is None and "expired" in reason
    forged = state[:-4] + ("0000" if not state.endswith("0000") else "1111")
    nonce, reason = read_state([KEY], forged, 1_000_000)
    assert nonce is None and "signature" in reason
    other = make_state("x" * 64, "nonce1", 1_000_000)
    assert read_state([KEY], other, 1_000_000)[0] is None
    swapped = "nonce2" + state[len("nonce1") :]  # another nonce under the same signature
    assert read_state([KEY], swapped, 1_000_000)[0] is None
    for junk in ("", "a.b", "a.b.c.d", "..", "é.1.2", "x" * 5000, "n.99999999999999999999.ab"):
        nonce, reason = read_state([KEY], junk, 1_000_000)
        assert nonce is None and reason, junk


def test_scopes_follow_services_and_directions():
    settings = {"calendar": {"direction": "to-crm"}, "contacts": {"direction": "two-way"}}
    assert scopes_for(["email", "calendar", "contacts", "tasks"], settings) == [
        "Mail.Read",
        "Calendar.Read",
        "Contacts.ReadWrite",
        "Tasks.ReadWrite",
    ]
    assert scopes_for([], {}) == []


def test_the_authorize_url_carries_what_aurinko_requires():
    url = authorize_url(
        "https://api.aurinko.io",
        client_id="cid",
        service_type="Google",
        scopes=["Mail.Read", "Calendar.ReadWrite"],
        return_url="https://bs.example/connect/callback",
        state="s.1.x",
        login_hint="ann@acme.com",
        account_id="42",
    )
    parts = urlsplit(url)
    assert parts.path == "/v1/auth/authorize"
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q == {
        "clientId": "cid",
        "serviceType": "Google",
        "scopes": "Mail.Read Calendar.ReadWrite",
        "responseType": "code",
        "returnUrl": "https://bs.example/connect/callback",
        "state": "s.1.x",
        "loginHint": "ann@acme.com",
        "accountId": "42",
    }


def test_what_a_callback_account_means():
    link = Expected(org_id=1, email="ann@acme.com")
    assert decide(link, "ann@acme.com", None)[0] == "register"
    assert decide(link, "ANN@acme.com", None)[0] == "register"
    assert decide(link, "bob@acme.com", None)[0] == "refuse"
    assert decide(Expected(org_id=1), "bob@acme.com", None)[0] == "register"
    assert decide(link, "ann@acme.com", Existing(7, 1))[0] == "reconnect"
    action, why = decide(link, "ann@acme.com", Existing(7, 2))
    assert action == "refuse" and "another organisation" in why
    reconnect = Expected(org_id=1, email="ann@acme.com", user_id=7)
    assert decide(reconnect, "ann@acme.com", Existing(7, 1))[0] == "reconnect"
    assert decide(reconnect, "bob@acme.com", Existing(8, 1))[0] == "refuse"
    assert decide(reconnect, "bob@acme.com", None)[0] == "refuse"
