"""Copies of one message in several mailboxes (pure): what each copy shows, and whether a
colleague's copy waits for the sender's own, the only one that shows Bcc."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from brightsync.email.message import (
    MAX_SCANNED_ADDRESSES,
    addresses_in,
    header,
    labels_of,
    parse_address_list,
)
from brightsync.email.rules import PARTIAL_VIEW_REASONS, Decision
from brightsync.people.addresses import normalize_address

MAX_RECORDED_PARTICIPANTS = 1000  # kept on a claim to compare later copies against
# How long a colleague's copy of mail sent by a registered user waits for the sender's own
# copy (the only one that shows Bcc) before the organisation decides without it.
DEFAULT_SENDER_COPY_WAIT_SECONDS = 180


def sender_copy_wait(settings: Mapping[str, Any]) -> timedelta:
    value = (settings.get("email") or {}).get(
        "senderCopyWaitSeconds", DEFAULT_SENDER_COPY_WAIT_SECONDS
    )
    return timedelta(seconds=max(0, int(value)))


def copy_participants(msg: object) -> frozenset[str]:
    """Every address one copy shows (from, to, cc and, where visible, bcc), normalised.

    From, To and Cc are the same in every copy; only the sender's copy shows Bcc. Bounded
    to MAX_RECORDED_PARTICIPANTS (the first ones in sorted order) so comparing is cheap.
    """
    if not isinstance(msg, Mapping):
        return frozenset()
    from_value = msg.get("from") or header(msg, "From")
    found = set(addresses_in(from_value, 1))
    for role in ("to", "cc", "bcc"):
        found.update(addresses_in(msg.get(role), MAX_SCANNED_ADDRESSES))
    return frozenset(sorted(found)[:MAX_RECORDED_PARTICIPANTS])


def with_hidden(msg: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """The copy plus the participants other copies showed and this one hides.

    What a copy can hide is Bcc (everything else is in every copy), so the extra addresses
    are added as Bcc: the decision then sees every copy's participants, not one copy's.
    """
    extra = sorted(set(known) - copy_participants(msg))
    merged = dict(msg)
    if extra:
        visible, _, _ = parse_address_list(msg.get("bcc"), MAX_SCANNED_ADDRESSES)
        merged["bcc"] = [{"address": a, "name": n} for a, n in visible] + [
            {"address": a, "name": ""} for a in extra
        ]
    return merged


def is_sender_copy(msg: object, decision: Decision, mailbox_address: str | None) -> bool:
    """Is this the sender's own copy (the one that shows Bcc)?"""
    if decision.sender is None:
        return False
    if mailbox_address and normalize_address(mailbox_address) == decision.sender.address:
        return True
    return isinstance(msg, Mapping) and "sent" in labels_of(msg)


def awaits_sender_copy(decision: Decision, *, sender_registered: bool, sender_copy: bool) -> bool:
    """Should a colleague's copy wait for the sender's own before the organisation decides?

    Only the sender's copy shows Bcc. Bcc can turn "internal" into "log" (a customer in Bcc)
    and "log" into "excluded" (an excluded address in Bcc); the other skips (bulk, meeting,
    excluded already, malformed) come from what every copy shows and stand as they are.
    """
    if sender_copy or not sender_registered:
        return False
    return decision.should_log or decision.reason in PARTIAL_VIEW_REASONS
