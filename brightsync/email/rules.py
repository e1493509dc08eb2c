"""Which messages get logged: the organisation's email policy and the header-only decision
on a message (pure).

Messages are Aurinko EmailMessage dicts whose every field may be missing, null or of the
wrong type (read through `email.message`), so every message gets a reason and none crashes
the sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from brightsync.email.message import (
    MAX_SCANNED_ADDRESSES,
    SENSITIVE,
    group_addresses,
    is_bulk,
    labels_of,
    message_id_of,
    message_key,
    parse_address_list,
    sender_field,
    sensitivity_of,
)
from brightsync.people.addresses import is_group_list, is_role_address
from brightsync.people.domains import (
    in_domains,
    is_disposable,
    is_excluded,
    normalize_addresses,
    normalize_domains,
)

CONTACT_CREATION_MODES = ("none", "sent", "all")
DEFAULT_MAX_PARTICIPANTS = 500  # kept in a Decision; more is recorded as truncated

# Reason codes (Decision.reason).
LOG_EXTERNAL = "external"
LOG_INTERNAL = "log_internal"
SKIP_REASONS = (
    "draft",
    "junk",
    "trash",
    "meeting",
    "private",
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

_MEETING_METHODS = frozenset({"request", "reply", "cancel", "counter"})
_LABEL_REASONS = (
    ("draft", ("draft", "drafts")),
    ("junk", ("junk", "spam")),
    ("trash", ("trash", "deleted", "deleteditems")),
)


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
    log_private: bool = False  # private, personal or confidential mail (email.logPrivate)
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
        return cls(
            org_domains=normalize_domains(domains),
            log_internal=_as_bool(email.get("logInternal"), False),
            contact_creation=mode if mode in CONTACT_CREATION_MODES else "none",
            create_companies=_as_bool(email.get("createCompanies"), True),
            exclude_domains=normalize_domains(email.get("excludeDomains")),
            exclude_addresses=normalize_addresses(email.get("excludeAddresses")),
            skip_bulk=_as_bool(email.get("skipBulk"), True),
            log_private=_as_bool(email.get("logPrivate"), False),
        )

    def is_internal(self, address: str) -> bool:
        """`address` must already be normalised."""
        return bool(self.org_domains) and in_domains(address.rsplit("@", 1)[-1], self.org_domains)

    def is_excluded(self, address: str) -> bool:
        """`address` must already be normalised."""
        return is_excluded(address, self.exclude_domains, self.exclude_addresses)


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


def _skip(reason: str, **kwargs: Any) -> Decision:
    return Decision(action="skip", reason=reason, **kwargs)


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
    labels = labels_of(msg)

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
        "group_addresses": group_addresses(msg, (p.address for p in external[:cap])),
    }

    for reason, names in _LABEL_REASONS:
        if labels.intersection(names):
            return _skip(reason, **common)
    method = msg.get("meetingMessageMethod")
    if isinstance(method, str) and method.strip().lower() in _MEETING_METHODS:
        return _skip("meeting", **common)  # the calendar sync owns meetings
    # The sender marked it private: the same in every copy, so it decides for the org.
    if not policy.log_private and sensitivity_of(msg) in SENSITIVE:
        return _skip("private", **common)
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
