"""Copies of one message in several mailboxes: what each shows, and who decides (pure)."""

from hypothesis import given
from hypothesis import strategies as st

from brightsync.email.claims import takes_over
from brightsync.email.copies import (
    awaits_sender_copy,
    copy_participants,
    is_sender_copy,
    sender_copy_wait,
    with_hidden,
)
from brightsync.email.rules import MAILBOX_LOCAL_REASONS, EmailPolicy, classify

POLICY = EmailPolicy.from_settings(
    {"excludeAddresses": ["lawyer@counsel.com"], "excludeDomains": ["secret.org"]}, ["acme.com"]
)
PEOPLE = [
    "alice@acme.com",
    "bob@acme.com",
    "carol@acme.com",
    "dave@customer.com",
    "erin@client.com",
    "lawyer@counsel.com",
    "x@mail.secret.org",
]


def a(address: str) -> dict[str, str]:
    return {"address": address, "name": address.split("@")[0].title()}


def sender_copy(sender: str, to: list[str], cc: list[str], bcc: list[str]) -> dict:
    return {
        "id": "s1",
        "internetMessageId": "<m1@acme.com>",
        "subject": "Hello",
        "sysLabels": ["sent"],
        "from": a(sender),
        "to": [a(x) for x in to],
        "cc": [a(x) for x in cc],
        "bcc": [a(x) for x in bcc],
    }


def recipient_copy(msg: dict) -> dict:
    """The same message as a recipient's mailbox holds it: no Bcc, in the inbox."""
    out = {k: v for k, v in msg.items() if k != "bcc"}
    return {**out, "id": "r1", "sysLabels": ["inbox"]}


def test_a_copy_shows_from_to_cc_and_only_the_sender_copy_shows_bcc():
    full = sender_copy(
        "alice@acme.com", ["bob@acme.com"], ["Carol@ACME.com"], ["dave@customer.com"]
    )
    assert copy_participants(full) == {
        "alice@acme.com",
        "bob@acme.com",
        "carol@acme.com",
        "dave@customer.com",
    }
    assert copy_participants(recipient_copy(full)) == copy_participants(full) - {
        "dave@customer.com"
    }
    assert copy_participants(None) == frozenset()
    assert copy_participants({"from": "not an address", "to": 42}) == frozenset()


def test_the_recipient_copy_alone_looks_internal_but_with_what_others_showed_it_logs():
    full = sender_copy("alice@acme.com", ["bob@acme.com"], [], ["dave@customer.com"])
    partial = recipient_copy(full)
    assert classify(partial, POLICY).reason == "internal"
    merged = with_hidden(partial, copy_participants(full))
    decided = classify(merged, POLICY)
    assert decided.should_log and [p.address for p in decided.external] == ["dave@customer.com"]
    assert with_hidden(partial, copy_participants(partial)) == partial  # nothing to add


def test_sender_copy_and_waiting():
    full = sender_copy("alice@acme.com", ["bob@acme.com"], [], [])
    d = classify(full, POLICY)
    assert is_sender_copy(full, d, "Alice@acme.com")
    assert is_sender_copy(full, d, None)  # the Sent label says so too
    assert not is_sender_copy(recipient_copy(full), d, "bob@acme.com")
    # A colleague's copy of internal-looking or loggable mail waits for the sender's copy...
    assert awaits_sender_copy(d, sender_registered=True, sender_copy=False)
    logged = classify(
        recipient_copy(sender_copy("alice@acme.com", ["dave@customer.com"], [], [])), POLICY
    )
    assert awaits_sender_copy(logged, sender_registered=True, sender_copy=False)
    # ...never its own copy, never mail from outside, never a skip Bcc cannot change.
    assert not awaits_sender_copy(d, sender_registered=True, sender_copy=True)
    assert not awaits_sender_copy(d, sender_registered=False, sender_copy=False)
    excluded = classify(sender_copy("alice@acme.com", ["lawyer@counsel.com"], [], []), POLICY)
    assert excluded.reason == "excluded"
    assert not awaits_sender_copy(excluded, sender_registered=True, sender_copy=False)


def test_who_takes_an_existing_claim_over():
    assert takes_over("waiting", None, revealed=False, sender_copy=True)
    assert not takes_over("waiting", None, revealed=True, sender_copy=False)
    assert takes_over("skipped", "internal", revealed=True, sender_copy=True)
    assert takes_over("unmatched", "no matching contact", revealed=True, sender_copy=False)
    assert not takes_over("skipped", "internal", revealed=False, sender_copy=True)
    for final in ("bulk", "excluded", "meeting", *MAILBOX_LOCAL_REASONS):
        assert not takes_over("skipped", final, revealed=True, sender_copy=True)
    for state in ("claimed", "logging", "logged", "failed", "orphaned"):
        assert not takes_over(state, None, revealed=True, sender_copy=True)


def test_the_wait_setting():
    assert sender_copy_wait({"email": {}}).total_seconds() == 180
    assert sender_copy_wait({"email": {"senderCopyWaitSeconds": 5}}).total_seconds() == 5
    assert sender_copy_wait({"email": {"senderCopyWaitSeconds": -1}}).total_seconds() == 0


people = st.lists(st.sampled_from(PEOPLE), max_size=4, unique=True)


@given(st.sampled_from(PEOPLE[:3]), people, people, people)
def test_any_copy_merged_with_what_others_showed_decides_as_the_sender_copy(sender, to, cc, bcc):
    """Whichever copy is synced first, once the participants other copies showed are known,
    the decision is the one the sender's full copy gives: same action, reason, people."""
    full = sender_copy(sender, to, cc, bcc)
    partial = recipient_copy(full)
    merged = with_hidden(partial, copy_participants(partial) | copy_participants(full))
    want, got = classify(full, POLICY), classify(merged, POLICY)
    assert (got.action, got.reason, got.direction) == (want.action, want.reason, want.direction)
    assert {p.address for p in got.external} == {p.address for p in want.external}
    if "lawyer@counsel.com" in bcc or "x@mail.secret.org" in bcc:
        assert not got.should_log  # an excluded Bcc is never logged
    # A partial view never logs what the full view excludes, once merged.
    alone = classify(partial, POLICY)
    if alone.should_log and not want.should_log:
        assert want.reason == "excluded"
