"""Which messages get logged: header-only classification of a mailbox message (pure).

Everything here works on Aurinko EmailMessage dicts whose every field may be missing, null or
of the wrong type, so the sync task can record a reason for each message and never crash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from brightsync.people.addresses import is_group_list, is_role_address, normalize_address
from brightsync.people.domains import in_domains, is_disposable, normalize_domains
from brightsync.people.names import decode_encoded_words

CONTACT_CREATION_MODES = ("none", "sent", "all")
DEFAULT_MAX_PARTICIPANTS = 500  # kept in a Decision; more is recorded as truncated
MAX_SCANNED_ADDRESSES = 5000  # examined for exclusion/internal checks, then we stop
MAX_HEADERS_SCANNED = 2000  # a huge header block must not cost unbounded time
MAX_HEADER_VALUE = 65536
MAX_MESSAGE_ID_LENGTH = 995  # RFC 5322 line limit minus 'Message-ID: <>'
MAX_SUBJECT_LENGTH = 2000

# Reason codes (Decision.reason).
LOG_EXTERNAL = "external"
LOG_INTERNAL = "log_internal"
SKIP_REASONS = (
    "draft",
    "junk",
    "trash",
    "meeting",
    "bulk",
    "excluded",
    "internal",
    "no_participants",
    "malformed",
)

# Reasons that belong to one copy of a message, not to the message: another mailbox's copy
# of the same message may still be logged, so they never decide for the organisation.
MAILBOX_LOCAL_REASONS = frozenset({"draft", "junk", "trash"})
# Skips decided from the participants a copy shows: a copy that shows more (the sender's,
# with its Bcc) can change them, so they are reopened when one does.
PARTIAL_VIEW_REASONS = frozenset({"internal", "no_participants"})
MAX_RECORDED_PARTICIPANTS = 1000  # kept on a claim to compare later copies against

_MEETING_METHODS = frozenset({"request", "reply", "cancel", "counter"})
_LABEL_REASONS = (
    ("draft", ("draft", "drafts")),
    ("junk", ("junk", "spam")),
    ("trash", ("trash", "deleted", "deleteditems")),
)
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_MSGID_RE = re.compile(r"<([^<>]*)>")
_BAD_ID_CHARS = re.compile(r"[\s\x00-\x1f\x7f<>]")


@dataclass(frozen=True)
class Participant:
    address: str  # normalised (see normalize_address)
    name: str  # display name as given (decoded, trimmed); '' when none
    role: str  # 'from' | 'to' | 'cc' | 'bcc'


@dataclass(frozen=True)
class EmailPolicy:
    """The organisation's email settings (interfaces.md defaults) plus its domains."""

    org_domains: tuple[str, ...] = ()
    log_internal: bool = False
    contact_creation: str = "none"
    create_companies: bool = True
    exclude_domains: tuple[str, ...] = ()
    exclude_addresses: frozenset[str] = frozenset()
    skip_bulk: bool = True
    max_participants: int = DEFAULT_MAX_PARTICIPANTS

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any] | None, domains: Iterable[str] | None
    ) -> EmailPolicy:
        """Build from an org's `settings` (whole dict or just its 'email' part) and domains.

        Unknown or mistyped values fall back to the documented defaults rather than failing:
        settings are user input from the admin API.
        """
        email = settings if isinstance(settings, Mapping) else {}
        if isinstance(email.get("email"), Mapping):
            email = email["email"]
        mode = email.get("contactCreation")
        mode = mode.strip().lower() if isinstance(mode, str) else "none"
        addresses = email.get("excludeAddresses")
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list | tuple | set | frozenset):
            addresses = []
        return cls(
            org_domains=normalize_domains(domains),
            log_internal=_as_bool(email.get("logInternal"), False),
            contact_creation=mode if mode in CONTACT_CREATION_MODES else "none",
            create_companies=_as_bool(email.get("createCompanies"), True),
            exclude_domains=normalize_domains(email.get("excludeDomains")),
            exclude_addresses=frozenset(
                a for a in (normalize_address(x) for x in addresses) if a is not None
            ),
            skip_bulk=_as_bool(email.get("skipBulk"), True),
        )

    def is_internal(self, address: str) -> bool:
        """`address` must already be normalised."""
        return bool(self.org_domains) and in_domains(address.rsplit("@", 1)[-1], self.org_domains)

    def is_excluded(self, address: str) -> bool:
        """`address` must already be normalised."""
        if address in self.exclude_addresses:
            return True
        return in_domains(address.rsplit("@", 1)[-1], self.exclude_domains)


@dataclass(frozen=True)
class Decision:
    action: str  # 'log' | 'skip'
    reason: str  # 'external' / 'log_internal' when logged, else one of SKIP_REASONS
    direction: str  # 'sent' | 'received' | 'internal'
    key: str  # dedup key (message_key); '' only when the message is not a dict
    message_id: str | None = None  # normalised internetMessageId
    sender: Participant | None = None
    external: tuple[Participant, ...] = ()
    internal: tuple[str, ...] = ()  # internal addresses seen (normalised)
    truncated: bool = False  # participant lists were cut (see max_participants)
    notes: tuple[str, ...] = ()  # non-fatal oddities worth recording
    group_addresses: frozenset[str] = field(default_factory=frozenset)  # lists per headers

    @property
    def should_log(self) -> bool:
        return self.action == "log"


def _as_bool(value: object, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
    return default


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
    sender = _entries_addresses(msg.get("from") or header(msg, "From"), 1)
    date = (
        _iso_utc(msg.get("sentAt"))
        or _iso_utc(header(msg, "Date"))
        or _iso_utc(msg.get("receivedAt"))
    )
    subject = " ".join(decode_encoded_words(_text(msg.get("subject"))).split())
    recipients = sorted(
        set(_entries_addresses(msg.get("to"), MAX_SCANNED_ADDRESSES))
        | set(_entries_addresses(msg.get("cc"), MAX_SCANNED_ADDRESSES))
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


def _entries_addresses(value: object, limit: int) -> list[str]:
    return [a for a, _ in parse_address_list(value, limit)[0]]


def _labels(msg: Mapping[str, Any]) -> set[str]:
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


_LIST_HEADER_NAMES = ("List-Id", "List-Post", "List-Owner", "Mailing-List")


def _group_addresses(msg: Mapping[str, Any], addresses: Iterable[str]) -> frozenset[str]:
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


def _skip(reason: str, **kwargs: Any) -> Decision:
    return Decision(action="skip", reason=reason, **kwargs)


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


def classify(msg: object, policy: EmailPolicy) -> Decision:
    """Decide from headers alone whether a message is logged, and with whom. Never raises."""
    if not isinstance(msg, Mapping):
        return _skip("malformed", direction="received", key="", notes=("not_a_dict",))
    try:
        return _classify(msg, policy)
    except Exception as exc:  # last-resort guard: one odd message must not stop a sync
        try:
            key = message_key(msg)
        except Exception:
            key = ""
        return _skip(
            "malformed", direction="received", key=key, notes=(f"error:{type(exc).__name__}",)
        )


def _classify(msg: Mapping[str, Any], policy: EmailPolicy) -> Decision:
    notes: list[str] = []
    message_id = message_id_of(msg)
    if message_id is None:
        notes.append("no_message_id")
    if not isinstance(msg.get("id"), str | int) or isinstance(msg.get("id"), bool):
        notes.append("no_provider_id")
    key = message_key(msg)
    labels = _labels(msg)

    # Participants, bounded: exclusion/internal checks see up to MAX_SCANNED_ADDRESSES.
    from_value = sender_field(msg)
    budget = MAX_SCANNED_ADDRESSES
    scanned: dict[str, list[tuple[str, str]]] = {}
    invalid = 0
    truncated = False
    for role, value in (
        ("from", from_value),
        ("to", msg.get("to")),
        ("cc", msg.get("cc")),
        ("bcc", msg.get("bcc")),
        ("replyTo", msg.get("replyTo")),
    ):
        limit = 1 if role == "from" else max(budget, 0)
        entries, bad, overflow = parse_address_list(value, limit)
        scanned[role] = entries
        invalid += bad
        budget -= len(entries)
        truncated = truncated or (overflow and role != "from")
    if invalid:
        notes.append(f"invalid_addresses={invalid}")
    if truncated:
        notes.append("recipients_over_scan_limit")

    sender_pair = scanned["from"][0] if scanned["from"] else None
    sender_internal = sender_pair is not None and policy.is_internal(sender_pair[0])
    if policy.org_domains and sender_pair is not None:
        direction = "sent" if sender_internal else "received"
    else:
        direction = "sent" if "sent" in labels else "received"
    if sender_pair is None:
        notes.append("no_sender")

    # bcc is only meaningful on the sender's copy.
    roles = ("from", "to", "cc", "bcc") if direction == "sent" else ("from", "to", "cc")
    seen: set[str] = set()
    external: list[Participant] = []
    internal: list[str] = []
    for role in roles:
        for addr, name in scanned[role]:
            if addr in seen:
                continue  # first role wins: from > to > cc > bcc
            seen.add(addr)
            if policy.is_internal(addr):
                internal.append(addr)
            else:
                external.append(Participant(addr, name, role))
    cap = max(policy.max_participants, 1)
    if len(external) > cap or len(internal) > cap:
        truncated = True
        notes.append("participants_truncated")
    sender = Participant(sender_pair[0], sender_pair[1], "from") if sender_pair else None
    all_internal = bool(policy.org_domains) and bool(seen) and not external
    if all_internal:
        direction = "internal"

    common: dict[str, Any] = {
        "direction": direction,
        "key": key,
        "message_id": message_id,
        "sender": sender,
        "external": tuple(external[:cap]),
        "internal": tuple(internal[:cap]),
        "truncated": truncated,
        "notes": tuple(notes),
        "group_addresses": _group_addresses(msg, (p.address for p in external[:cap])),
    }

    for reason, names in _LABEL_REASONS:
        if labels.intersection(names):
            return _skip(reason, **common)
    method = msg.get("meetingMessageMethod")
    if isinstance(method, str) and method.strip().lower() in _MEETING_METHODS:
        return _skip("meeting", **common)  # the calendar sync owns meetings
    if policy.skip_bulk and is_bulk(msg):
        return _skip("bulk", **common)
    if not seen:
        return _skip("no_participants", **common)
    touching = [a for role in scanned for a, _ in scanned[role]]
    if any(policy.is_excluded(a) for a in touching):
        return _skip("excluded", **common)
    if all_internal:
        if not policy.log_internal:
            return _skip("internal", **common)
        return Decision(action="log", reason=LOG_INTERNAL, **common)
    return Decision(action="log", reason=LOG_EXTERNAL, **common)


def creation_candidates(decision: Decision, policy: EmailPolicy) -> tuple[Participant, ...]:
    """Participants eligible for contact auto-creation under the org's contactCreation mode.

    'sent': recipients of a message the organisation sent; 'all': every external participant.
    Never internal people, role/no-reply mailboxes, group lists or disposable addresses.
    """
    if decision.action != "log" or policy.contact_creation not in ("sent", "all"):
        return ()
    if policy.contact_creation == "sent":
        if decision.direction != "sent":
            return ()
        pool = [p for p in decision.external if p.role in ("to", "cc", "bcc")]
    else:
        pool = list(decision.external)
    out = []
    for p in pool:
        if not p.address or policy.is_internal(p.address) or is_role_address(p.address):
            continue
        if p.address in decision.group_addresses or is_group_list(p.address):
            continue
        if is_disposable(p.address.rsplit("@", 1)[-1]):
            continue
        out.append(p)
    return tuple(out)


# --- copies: what one mailbox's copy shows of a message ------------------------------------


def copy_participants(msg: object) -> frozenset[str]:
    """Every address one copy shows (from, to, cc and, where visible, bcc), normalised.

    From, To and Cc are the same in every copy; only the sender's copy shows Bcc. Bounded
    to MAX_RECORDED_PARTICIPANTS (the first ones in sorted order) so comparing is cheap.
    """
    if not isinstance(msg, Mapping):
        return frozenset()
    from_value = msg.get("from") or header(msg, "From")
    found = set(_entries_addresses(from_value, 1))
    for role in ("to", "cc", "bcc"):
        found.update(_entries_addresses(msg.get(role), MAX_SCANNED_ADDRESSES))
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
    return isinstance(msg, Mapping) and "sent" in _labels(msg)


def awaits_sender_copy(decision: Decision, *, sender_registered: bool, sender_copy: bool) -> bool:
    """Should a colleague's copy wait for the sender's own before the organisation decides?

    Only the sender's copy shows Bcc. Bcc can turn "internal" into "log" (a customer in Bcc)
    and "log" into "excluded" (an excluded address in Bcc); the other skips (bulk, meeting,
    excluded already, malformed) come from what every copy shows and stand as they are.
    """
    if sender_copy or not sender_registered:
        return False
    return decision.should_log or decision.reason in PARTIAL_VIEW_REASONS
