"""Facts of one mailbox message read from its fields and headers (pure): header values,
the Message-ID and the dedup key (a digest when there is none), address lists, labels, the
sender, the bulk/list markers and the sensitivity.

Every field of an Aurinko EmailMessage may be missing, null or of the wrong type, and a
header block may be huge: everything here is bounded and never raises on odd input.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from brightsync.people.addresses import is_group_list, normalize_address
from brightsync.people.names import decode_encoded_words

MAX_SCANNED_ADDRESSES = 5000  # examined for exclusion/internal checks, then we stop
MAX_HEADERS_SCANNED = 2000  # a huge header block must not cost unbounded time
MAX_HEADER_VALUE = 65536
MAX_MESSAGE_ID_LENGTH = 995  # RFC 5322 line limit minus 'Message-ID: <>'
MAX_SUBJECT_LENGTH = 2000

_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_MSGID_RE = re.compile(r"<([^<>]*)>")
_BAD_ID_CHARS = re.compile(r"[\s\x00-\x1f\x7f<>]")
_LIST_HEADER_NAMES = ("List-Id", "List-Post", "List-Owner", "Mailing-List")
# Aurinko's Sensitivity values that keep a message private (as for calendar events).
SENSITIVE = frozenset({"private", "personal", "confidential"})
# The RFC 2156 'Sensitivity:' header's words, for a message whose field is missing.
_SENSITIVITY_HEADER = {
    "personal": "personal",
    "private": "private",
    "company-confidential": "confidential",
}


def _text(value: object, limit: int = MAX_HEADER_VALUE) -> str:
    """Any value as a bounded str ('' for None / containers)."""
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def header_values(msg: object, name: str) -> list[str]:
    """All values of a header in internetHeaders (case-insensitive name), bounded."""
    if not isinstance(msg, Mapping):
        return []
    headers = msg.get("internetHeaders")
    if not isinstance(headers, list | tuple):
        return []
    wanted = name.strip().lower()
    out = []
    for item in headers[:MAX_HEADERS_SCANNED]:
        if not isinstance(item, Mapping):
            continue
        hname = item.get("name")
        if isinstance(hname, str) and hname.strip().lower() == wanted:
            value = item.get("value")
            out.append(_text(value).strip())
    return out


def header(msg: object, name: str) -> str | None:
    """First value of a header (case-insensitive), or None when absent."""
    values = header_values(msg, name)
    return values[0] if values else None


def normalize_message_id(raw: object) -> str | None:
    """Canonical Message-ID: brackets and whitespace stripped, the part after '@' lowercased.

    Only the right side is lowercased: it is a domain (case-insensitive), while the left
    side is often case-sensitive base64 (Gmail 'CAF...'), so lowercasing it could merge two
    different messages. Returns None for empty, whitespace-broken or over-long ids.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > MAX_MESSAGE_ID_LENGTH * 4:
        return None
    found = _MSGID_RE.search(text)
    inner = (found.group(1) if found else text).strip()
    if not inner or len(inner) > MAX_MESSAGE_ID_LENGTH or _BAD_ID_CHARS.search(inner):
        return None
    if "@" in inner:
        left, right = inner.rsplit("@", 1)
        if not left or not right:
            return None
        return f"{left}@{right.lower()}"
    return inner


def message_id_of(msg: object) -> str | None:
    """Normalised internetMessageId of a message (field first, then the Message-ID header)."""
    if not isinstance(msg, Mapping):
        return None
    return normalize_message_id(msg.get("internetMessageId")) or normalize_message_id(
        header(msg, "Message-ID")
    )


def _iso_utc(value: object) -> str:
    """Timestamp as UTC ISO seconds so '...Z' and '...+00:00' spellings digest alike."""
    text = _text(value, 100).strip()
    if not text:
        return ""
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)  # RFC 2822 'Date:' header form
        except (TypeError, ValueError, IndexError):
            return text
    if parsed is None:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError):
        return text


def message_key(msg: object) -> str:
    """Dedup key: normalised internetMessageId, else 'digest:' + sha256 of stable headers.

    The digest uses the sender, the sent date, the subject and the sorted to+cc recipients:
    all identical in every mailbox holding a copy (bcc and receivedAt are not).
    """
    mid = message_id_of(msg)
    if mid:
        return mid
    if not isinstance(msg, Mapping):
        return ""
    sender = addresses_in(msg.get("from") or header(msg, "From"), 1)
    date = (
        _iso_utc(msg.get("sentAt"))
        or _iso_utc(header(msg, "Date"))
        or _iso_utc(msg.get("receivedAt"))
    )
    subject = " ".join(decode_encoded_words(_text(msg.get("subject"))).split())
    recipients = sorted(
        set(addresses_in(msg.get("to"), MAX_SCANNED_ADDRESSES))
        | set(addresses_in(msg.get("cc"), MAX_SCANNED_ADDRESSES))
    )
    parts = [sender[0] if sender else "", date, subject, ",".join(recipients)]
    if not any(parts):
        parts.append(_text(msg.get("id"), 1000))  # nothing stable at all: per-copy key
    payload = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return "digest:" + hashlib.sha256(payload).hexdigest()


def parse_address_list(value: object, limit: int) -> tuple[list[tuple[str, str]], int, bool]:
    """(address, name) pairs of an address list field, the count of invalid ones, overflow.

    Tolerates {name, address}, {emailAddress: {...}}, 'Name <a@b>' strings, a single dict and
    a comma-separated string.
    """
    if value is None:
        return [], 0, False
    if isinstance(value, str):
        items: list[Any] = [
            {"name": n, "address": a} for n, a in getaddresses([value[:MAX_HEADER_VALUE]])
        ]
    elif isinstance(value, Mapping):
        items = [value]
    elif isinstance(value, list | tuple):
        items = list(value[: limit + 1])
    else:
        return [], 1, False
    overflow = len(items) > limit
    out: list[tuple[str, str]] = []
    invalid = 0
    for item in items[:limit]:
        raw_addr: object = None
        raw_name: object = None
        if isinstance(item, Mapping):
            if isinstance(item.get("emailAddress"), Mapping):
                item = item["emailAddress"]
            raw_addr, raw_name = item.get("address"), item.get("name")
        elif isinstance(item, str):
            raw_addr = item
        addr = normalize_address(raw_addr)
        if addr is None:
            invalid += 1
            continue
        name = decode_encoded_words(_text(raw_name, 1024)) if raw_name else ""
        name = " ".join("".join(ch for ch in name if ch.isprintable()).split())[:256]
        out.append((addr, name))
    return out, invalid, overflow


def addresses_in(value: object, limit: int) -> list[str]:
    return [a for a, _ in parse_address_list(value, limit)[0]]


def labels_of(msg: Mapping[str, Any]) -> set[str]:
    raw = msg.get("sysLabels")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple | set | frozenset):
        return set()
    return {x.strip().lower() for x in list(raw)[:100] if isinstance(x, str)}


def is_bulk(msg: object) -> bool:
    """Bulk/automated mail per headers: List-Unsubscribe, List-Id, Precedence, Auto-Submitted."""
    if header(msg, "List-Unsubscribe") is not None or header(msg, "List-Id") is not None:
        return True
    for value in header_values(msg, "Precedence"):
        if value.strip().lower() in _BULK_PRECEDENCE:
            return True
    for value in header_values(msg, "Auto-Submitted"):
        # 'auto-generated; ...' / 'auto-replied': anything but 'no' (RFC 3834).
        if value.split(";", 1)[0].strip().lower() != "no":
            return True
    return False


def group_addresses(msg: Mapping[str, Any], addresses: Iterable[str]) -> frozenset[str]:
    """Participants that are mailing/distribution lists, by shape or by the List-* headers."""
    list_headers = [
        {"name": name, "value": value}
        for name in _LIST_HEADER_NAMES
        for value in header_values(msg, name)[:10]
    ]
    found = {a for a in addresses if is_group_list(a, list_headers or None)}
    for value in header_values(msg, "List-Post")[:10]:
        for m in re.findall(r"mailto:([^>\s,?]+)", value, flags=re.IGNORECASE):
            addr = normalize_address(m)
            if addr:
                found.add(addr)
    return frozenset(found)


def sender_field(msg: Mapping[str, Any]) -> object:
    """The message's From as classify() reads it: the field, else the header."""
    from_value = msg.get("from")
    if not from_value and header(msg, "From"):
        from_value = header(msg, "From")
    return from_value


def sender_address(msg: object) -> str | None:
    """The normalised sender address classify() would find (None without a usable one)."""
    if not isinstance(msg, Mapping):
        return None
    entries = parse_address_list(sender_field(msg), 1)[0]
    return entries[0][0] if entries else None


def sensitivity_of(msg: object) -> str:
    """The message's sensitivity (normal, private, personal or confidential).

    Aurinko's `sensitivity` field first; without one, the RFC 2156 'Sensitivity:' header
    (Outlook's 'Company-Confidential' reads as confidential); anything else is 'normal'.
    """
    if not isinstance(msg, Mapping):
        return "normal"
    value = msg.get("sensitivity")
    if isinstance(value, str) and value.strip():
        low = value.strip().lower()
        return low if low in SENSITIVE else "normal"
    raw = header(msg, "Sensitivity")
    return _SENSITIVITY_HEADER.get((raw or "").strip().lower(), "normal")
