"""Duplicate prevention for the contacts sync: the core's pairer (`sync.plan.Pairer`).

Before anything is created on either side, each unlinked contact is compared with the other
side's contacts (unlinked ones, and those already linked) by the duplicate matcher
(`people/duplicate_index.py`, blocked so it never compares all pairs):

- "duplicate" with an unlinked contact of the other side: the two are linked and merged by
  the core instead of either being copied;
- "possible" (the grey band), or a duplicate of a contact that is already linked to another
  one: nothing is created yet; the pair is recorded for review
  (`GET /api/v1/orgs/{orgId}/duplicates`) and the contact waits;
- once a person decides the pair (`PATCH .../duplicates/{pairId}`), the waiting contacts are
  looked at again: "approved" links and merges them, "rejected" copies each to the other side.

`find_pairs` is pure (records in, decisions out); `ContactPairer` adds the recording.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from brightsync.contacts.rules import matchable
from brightsync.db import session_scope
from brightsync.models import ObjectLink, PossibleDuplicate
from brightsync.people.duplicate_index import DuplicateIndex, blocking_keys
from brightsync.people.person import prepare
from brightsync.people.phones import DEFAULT_REGION
from brightsync.review.duplicates import record_key, record_possible_duplicate
from brightsync.sync.adapter import CRM, MAILBOX, SIDES, Record, Side
from brightsync.sync.links import Scope
from brightsync.sync.plan import Matches


@dataclass(frozen=True)
class Doubt:
    """A pair for a person to look at: `side`/`record` waits (nothing created for it)."""

    side: Side
    record: Record
    other_side: Side
    other: Record
    score: float
    reasons: tuple[str, ...]


@dataclass
class Found:
    pairs: list[tuple[Record, Record]] = field(default_factory=list)
    doubts: list[Doubt] = field(default_factory=list)


def _tag(side: Side, record_id: str) -> str:
    return f"{side}:{record_id}"


def _naive(value: datetime) -> datetime:
    """Compare stored times alike on every backend (some return them without a zone)."""
    return value.replace(tzinfo=None) if value.tzinfo else value


def find_pairs(
    unlinked: Mapping[Side, Sequence[Record]],
    known: Mapping[Side, Sequence[Record]],
    region: str = DEFAULT_REGION,
    decided: Mapping[frozenset[str], str] | None = None,
) -> Found:
    """Link or doubt each unlinked contact against the other side (highest scores first).

    `decided`: a person's review of a pair ({"mailbox:<id>", "crm:<id>"} -> "approved" |
    "rejected"): approved pairs are duplicates, rejected ones are two people.
    """
    decided = decided or {}
    found = Found()
    if not any(unlinked[s] for s in SIDES):
        return found
    records: dict[str, tuple[Side, Record, bool]] = {}
    for side in SIDES:
        for record in known[side]:
            records[_tag(side, record.id)] = (side, record, False)
        for record in unlinked[side]:
            records[_tag(side, record.id)] = (side, record, True)
    people = {
        tag: prepare(matchable(tag, rec.fields), region) for tag, (_s, rec, _f) in records.items()
    }
    # Only linked records that share a blocking key with an unlinked one can matter: a run
    # with a few new contacts indexes those few and their candidates, not the whole book.
    wanted: set[str] = set()
    for tag, (_side, _record, free) in records.items():
        if free:
            wanted |= blocking_keys(people[tag])
    with DuplicateIndex(region) as index:
        for tag, (_side, _record, free) in records.items():
            if free or blocking_keys(people[tag]) & wanted:
                index.add(people[tag])
        matches = sorted(index.pairs(), key=lambda m: -m.score)
    taken: set[str] = set()
    doubted: set[str] = set()
    for m in matches:
        a, b = records[m.a], records[m.b]
        if a[0] == b[0] or not (a[2] or b[2]):
            continue  # same side, or both already linked: not a create to prevent
        verdict = decided.get(frozenset((m.a, m.b)))
        if verdict == "rejected":
            continue  # a person said: two people
        duplicate = m.decision == "duplicate" or verdict == "approved"
        if duplicate and a[2] and b[2] and not {m.a, m.b} & (taken | doubted):
            mailbox, crm = (a[1], b[1]) if a[0] == MAILBOX else (b[1], a[1])
            found.pairs.append((mailbox, crm))
            taken |= {m.a, m.b}
            continue
        for mine, theirs, tag in ((a, b, m.a), (b, a, m.b)):
            if mine[2] and tag not in taken and tag not in doubted:
                doubted.add(tag)
                found.doubts.append(
                    Doubt(mine[0], mine[1], theirs[0], theirs[1], m.score, tuple(m.reasons))
                )
    return found


class ContactPairer:
    """The pairer one contacts run hands to the engine: decides with `find_pairs`, and records
    each doubt for review (idempotent per pair: a retried run adds no second row)."""

    def __init__(
        self,
        org_id: int,
        user_id: int,
        region: str = DEFAULT_REGION,
        lookup: Callable[[list[str]], list[Record]] | None = None,
    ) -> None:
        """`lookup(addresses)`: CRM contacts holding any of the addresses, whoever owns them
        (a person another user owns must not be created a second time)."""
        self.org_id = org_id
        self.user_id = user_id
        self.region = region
        self.lookup = lookup

    def _key(self, side: Side, record: Record) -> str:
        return record_key(side, record.id, self.user_id if side == MAILBOX else None)

    def _tag_of(self, key: str) -> str | None:
        """The pairer's tag of a review key of this user's contacts (None: another's)."""
        side, _, rest = key.partition(":")
        if side == CRM:
            return _tag(CRM, rest)
        owner, _, record_id = rest.partition(":")
        return _tag(MAILBOX, record_id) if owner == str(self.user_id) else None

    def _decisions(self) -> list[tuple[frozenset[str], str, datetime | None]]:
        """The org's reviewed pairs that involve this user's mailbox or the CRM."""
        out = []
        with session_scope() as s:
            rows = s.execute(
                select(
                    PossibleDuplicate.key_a,
                    PossibleDuplicate.key_b,
                    PossibleDuplicate.state,
                    PossibleDuplicate.decided_at,
                ).where(
                    PossibleDuplicate.org_id == self.org_id,
                    PossibleDuplicate.state.in_(("approved", "rejected")),
                )
            )
            for key_a, key_b, state, at in rows:
                a, b = self._tag_of(key_a), self._tag_of(key_b)
                if a and b:
                    out.append((frozenset((a, b)), state, at))
        return out

    def decided(self) -> dict[frozenset[str], str]:
        return {pair: state for pair, state, _at in self._decisions()}

    def waiting_decided(self, scope: Scope) -> list[int]:
        """Links of records sent to review whose pair a person has decided since (a decision
        reopens a waiting record once: sent to review again, it waits for a new decision)."""
        latest: dict[str, datetime] = {}
        for pair, _state, at in self._decisions():
            for tag in pair:
                if at is not None and (tag not in latest or at > latest[tag]):
                    latest[tag] = at
        if not latest:
            return []
        with session_scope() as s:
            rows = s.execute(
                select(
                    ObjectLink.id, ObjectLink.mailbox_id, ObjectLink.crm_id, ObjectLink.error_at
                ).where(
                    ObjectLink.user_id == scope.user_id,
                    ObjectLink.domain == scope.domain,
                    ObjectLink.blocked.is_not(None),
                )
            )
            out = []
            for link_id, mailbox_id, crm_id, waiting_since in rows:
                if (mailbox_id is None) == (crm_id is None):
                    continue
                tag = _tag(MAILBOX, mailbox_id) if mailbox_id else _tag(CRM, str(crm_id))
                at = latest.get(tag)
                if at is not None and (waiting_since is None or _naive(at) > _naive(waiting_since)):
                    out.append(link_id)
            return out

    def __call__(
        self, unlinked: Mapping[Side, Sequence[Record]], known: Mapping[Side, Sequence[Record]]
    ) -> Matches:
        known = {side: list(known[side]) for side in SIDES}
        if self.lookup is not None:
            # CRM contacts outside this user's scope (another owner) count as existing ones.
            seen = {r.id for r in [*known[CRM], *unlinked[CRM]]}
            addresses = sorted({a for r in unlinked[MAILBOX] for a in r.fields.get("emails") or []})
            for record in self.lookup(addresses) if addresses else []:
                if record.id not in seen:
                    seen.add(record.id)
                    known[CRM].append(record)
        found = find_pairs(unlinked, known, self.region, self.decided())
        review: dict[tuple[Side, str], str] = {}
        if found.doubts:
            with session_scope() as s:
                for d in found.doubts:
                    record_possible_duplicate(
                        s,
                        self.org_id,
                        self._key(d.side, d.record),
                        {"side": d.side, **matchable(d.record.id, d.record.fields)},
                        self._key(d.other_side, d.other),
                        {"side": d.other_side, **matchable(d.other.id, d.other.fields)},
                        d.score,
                        d.reasons,
                    )
                    review[(d.side, d.record.id)] = (
                        f"possible duplicate of {d.other_side} contact {d.other.id} "
                        f"(score {d.score:.2f}: {'; '.join(d.reasons)}): waiting for review"
                    )
        return Matches(tuple(found.pairs), review)


__all__ = ["ContactPairer", "Doubt", "Found", "find_pairs"]
