"""Global thread grouping across every mailbox of an organisation (pure planning).

A message belongs to the thread of anything it shares a Message-ID / In-Reply-To /
References id with. The caller stores key -> thread id; `plan_thread` says which thread a new
message joins, which older threads fold into it and which keys still need recording.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from brightsync.email.message import header, message_id_of, normalize_message_id

MAX_THREAD_KEYS = 50  # own id + parent + a bounded slice of References
MAX_REFERENCES_CHARS = 65536
_ID_TOKEN_RE = re.compile(r"<[^<>]*>")


@dataclass(frozen=True)
class ThreadPlan:
    thread_id: str  # the thread the message joins (the oldest one when threads merge)
    merged: frozenset[str]  # other thread ids to fold into thread_id (re-point their keys)
    unassigned: tuple[str, ...]  # keys not yet known: record them -> thread_id
    is_new: bool  # thread_id was just created
    source: str  # 'headers' | 'provider' | 'new': what decided the thread


def parse_message_ids(value: object) -> list[str]:
    """Normalised ids from a header value ('<a@x> <b@y>', a bare id, or a list of them)."""
    if isinstance(value, list | tuple):
        out: list[str] = []
        for item in value[: MAX_THREAD_KEYS * 4]:
            out.extend(parse_message_ids(item))
        return out
    if not isinstance(value, str):
        return []
    text = value[:MAX_REFERENCES_CHARS]
    tokens = _ID_TOKEN_RE.findall(text)
    if not tokens:
        # Some clients drop the brackets: split on whitespace/commas instead.
        tokens = [t for t in re.split(r"[\s,]+", text) if t]
    ids = [normalize_message_id(t) for t in tokens]
    return [i for i in ids if i]


def _field_or_header(msg: Mapping[str, Any], field_name: str, header_name: str) -> list[str]:
    ids = parse_message_ids(msg.get(field_name))
    return ids if ids else parse_message_ids(header(msg, header_name))


def thread_keys(msg: object, limit: int = MAX_THREAD_KEYS) -> list[str]:
    """Own Message-ID, In-Reply-To and References ids: normalised, deduplicated, ordered.

    Long References keep the first id (the thread root) and the most recent ones.
    """
    if not isinstance(msg, Mapping) or limit <= 0:
        return []
    keys: list[str] = []
    own = message_id_of(msg)
    if own:
        keys.append(own)
    keys.extend(_field_or_header(msg, "inReplyTo", "In-Reply-To"))
    refs = _field_or_header(msg, "references", "References")
    room = max(limit - len(keys), 1)
    if len(refs) > room:
        refs = refs[:1] + refs[len(refs) - (room - 1) :] if room > 1 else refs[:1]
    keys.extend(refs)
    seen: set[str] = set()
    out = []
    for k in keys:
        if k not in seen:
            seen.add(k)
            out.append(k)
    return out[:limit]


def provider_thread_key(account_id: object, thread_id: object) -> str | None:
    """Key for a provider's threadId, namespaced so it never collides with a Message-ID."""
    if thread_id is None or isinstance(thread_id, bool) or not isinstance(thread_id, str | int):
        return None
    text = str(thread_id).strip()
    if not text:
        return None
    return f"provider:{account_id}:{text[:500]}"


_lock = threading.Lock()
_last: list[int] = [0, 0]  # (milliseconds, random part) of the last id issued


def new_thread_id() -> str:
    """'t' + 12 hex digits of epoch milliseconds + 16 random hex digits.

    Fixed width, so string order is time order: the smallest id is the oldest thread. Ids made
    in the same millisecond by this process still increase (random part is bumped).
    """
    with _lock:
        ms = time.time_ns() // 1_000_000
        rand = secrets.randbits(64)
        if ms <= _last[0]:
            ms = _last[0]
            rand = _last[1] + 1
            if rand >= 1 << 64:  # practically unreachable: borrow the next millisecond
                ms, rand = ms + 1, 0
        _last[0], _last[1] = ms, rand
    return f"t{ms:012x}{rand:016x}"


def plan_thread(
    keys: Iterable[str],
    known: Mapping[str, str],
    provider_thread_key: str | None = None,
    new_id: Callable[[], str] = new_thread_id,
) -> ThreadPlan:
    """Decide the global thread of a message from its keys and the known key -> thread map.

    - Header keys that are known decide; several distinct threads merge into the smallest
      (oldest) id, so the result does not depend on which copy arrived first.
    - Only when no header key is known does the provider's thread (`provider_thread_key`,
      see provider_thread_key()) decide; it never merges threads, as providers group loosely.
    - Otherwise a new thread id is created.
    """
    clean: list[str] = []
    seen: set[str] = set()
    for k in keys:
        if isinstance(k, str) and k and k not in seen:
            seen.add(k)
            clean.append(k)
    found = {known[k] for k in clean if k in known and known[k]}
    pkey = provider_thread_key if provider_thread_key else None
    if found:
        thread_id = min(found)
        merged = frozenset(found - {thread_id})
        source, is_new = "headers", False
    elif pkey is not None and known.get(pkey):
        thread_id, merged, source, is_new = known[pkey], frozenset(), "provider", False
    else:
        thread_id, merged, source, is_new = new_id(), frozenset(), "new", True
    unassigned = [k for k in clean if not known.get(k)]
    if pkey is not None and not known.get(pkey) and pkey not in unassigned:
        unassigned.append(pkey)
    return ThreadPlan(thread_id, merged, tuple(unassigned), is_new, source)
