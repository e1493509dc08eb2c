"""Deciding a run: every link (reported or not) and every unlinked record -> a `Plan`.

Pure, no I/O (a domain's pairer may read, never write). `plan()` runs in phases over one
record type, `Item`: a link, what each side looks like in this run, and how this run paired it.

0. `items_of`, `unlinked_of`: the stored links as this run sees them, and the records of both
   deltas that no link knows.
1. `adopt_or_move` (per side): an unlinked record is paired with a link waiting for a create
   on that side (`owes_create`) whose answer was lost (adopt), or with a link whose record
   that side deleted in this same delta (a move: same content, new id).
2. `pair_by_identity`: first sync, an unlinked record on each side with the same content.
3. `pair_with`: a domain's `pairer` finds the same item with differing content (the contacts'
   duplicate matcher): its pairs are linked with a field-level merge (`twoway.merge`), and
   records it sends to review get no create: they are stored blocked, with the reason, until
   their content changes.
4. `new_items`: the rest is new.
5. `step_for`: each item's step (`twoway.decide`), named after its pairing.
6. `guard`: when one run would delete more than `guard_fraction` of one side's linked records
   (and at least `guard_minimum`), those deletions become `hold` steps.

Pairing compares the fields named by `identity` (`fingerprint`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from brightsync.sync.adapter import (
    CRM,
    MAILBOX,
    SIDES,
    ChangeSet,
    Record,
    Side,
    content_hash,
    other,
)
from brightsync.sync.status import GONE, Current, Link, Settings, SideState, current_of
from brightsync.sync.twoway import Step, decide, merge


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    cursors: Mapping[Side, str | None]
    held: Mapping[Side, int] = field(default_factory=dict)  # deletions held, per side

    @property
    def writes(self) -> int:
        return sum(len(s.writes) for s in self.steps)

    def describe(self) -> dict[str, Any]:
        """What the run would do, for logs and review (JSON-ready)."""
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.kind] = counts.get(step.kind, 0) + 1
        return {
            "counts": counts,
            "writes": self.writes,
            "held": dict(self.held),
            "steps": [s.describe() for s in self.steps if s.kind != "refresh"],
        }


@dataclass(frozen=True)
class Matches:
    """What a pairer found among the unlinked records. `pairs`: (mailbox, crm) records that are
    one item (the crm record may come from outside the delta, e.g. a lookup); `review`:
    (side, id) of unlinked records to create nothing for yet -> the reason."""

    pairs: tuple[tuple[Record, Record], ...] = ()
    review: Mapping[tuple[Side, str], str] = field(default_factory=dict)


# (unlinked records per side, linked records per side) -> Matches. It may read, never write.
Pairer = Callable[[Mapping[Side, Sequence[Record]], Mapping[Side, Sequence[Record]]], Matches]

Unlinked = dict[Side, list[Record]]


@dataclass(frozen=True)
class Item:
    """One link of this run with both sides as this run sees them, and how it was paired."""

    link: Link
    current: Mapping[Side, Current]
    # Paired in this run: names the step when nothing else is to be done.
    paired: Literal["adopt", "move", "link"] | None = None
    merge: bool = False  # one item found with differing content: merge field by field
    review: str | None = None  # the pairer's doubt: create nothing, store blocked


def fingerprint(fields: Mapping[str, Any] | None, identity: Sequence[str]) -> str | None:
    """The hash of the `identity` fields; None (pair nothing) without fields or identity."""
    if fields is None or not identity:
        return None
    return content_hash({k: fields.get(k) for k in identity})


# --- 0. what this run sees -------------------------------------------------------------------


def items_of(links: Iterable[Link], changes: Mapping[Side, ChangeSet]) -> list[Item]:
    return [Item(link, {s: current_of(link, s, changes[s]) for s in SIDES}) for link in links]


def linked_ids(links: Iterable[Link]) -> dict[Side, set[str]]:
    """The ids each side's stored links know (deleted ones too)."""
    ids: dict[Side, set[str]] = {s: set() for s in SIDES}
    for link in links:
        for s in SIDES:
            rid = link.side(s).id
            if rid is not None:
                ids[s].add(rid)
    return ids


def unlinked_of(changes: Mapping[Side, ChangeSet], linked: Mapping[Side, set[str]]) -> Unlinked:
    """The delta's records no link knows, per side, in delta order."""
    out: Unlinked = {}
    for s in SIDES:
        deleted = set(changes[s].deleted)
        out[s] = [r for r in changes[s].records if r.id not in linked[s] and r.id not in deleted]
    return out


# --- 1. adopt and move -----------------------------------------------------------------------


def adopt_or_move(
    items: Sequence[Item], unlinked: Sequence[Record], side: Side, identity: Sequence[str]
) -> tuple[list[Item], list[Record]]:
    """Pair `side`'s unlinked records with the links that expect one there: a create owed to
    that side (adopt), or a record that side deleted in this delta (move). Returns the items
    and the records still unlinked."""
    there = other(side)
    waiting: dict[str, list[int]] = {}  # fingerprint -> links owed a create on `side`
    moved: dict[str, list[int]] = {}  # fingerprint -> links whose `side` record was deleted
    for i, item in enumerate(items):
        mine, source = item.link.side(side), item.current[there]
        if owes_create(item, side):
            # What was sent (seen when the intent was stored), or the source as it is now.
            sent = item.link.side(there).seen
            for fp in {fingerprint(sent, identity), fingerprint(source.fields, identity)}:
                if fp:
                    waiting.setdefault(fp, []).append(i)
        # Deleted in this delta: a re-create may be owed and the record may have moved.
        if item.current[side] == GONE and not mine.gone and mine.seen is not None:
            fp = fingerprint(mine.seen, identity)
            if fp:
                moved.setdefault(fp, []).append(i)
    out = list(items)
    remaining: list[Record] = []
    for record in unlinked:
        fp = fingerprint(record.fields, identity)
        # A link is adopted (or moved) once, though it may wait under several fingerprints.
        pending = [i for i in waiting.get(fp or "", []) if owes_create(out[i], side)]
        movable = [i for i in moved.get(fp or "", []) if out[i].current[side] == GONE]
        if pending:
            out[pending[0]] = adopt(out[pending[0]], side, record)
        elif movable:
            out[movable[0]] = move(out[movable[0]], side, record)
        else:
            remaining.append(record)
    return out, remaining


def owes_create(item: Item, side: Side) -> bool:
    """Does `item` wait for a create on `side`? When its link has no record there yet, and
    when its record there is deleted (stored, or in this delta) while the other side's was
    modified (modified beats deleted: it is made again there)."""
    source = item.current[other(side)]
    if not isinstance(source, Record):
        return False
    mine = item.link.side(side)
    if mine.id is None:
        return True
    if not (mine.gone or item.current[side] == GONE):
        return False
    base = item.link.side(other(side)).base
    return any(f not in base or base[f] != v for f, v in source.fields.items())


def adopt(item: Item, side: Side, record: Record) -> Item:
    """`record` is what a create on `side` made: linked as created from what was sent, so a
    later edit of either record still shows as a change (a record matched by content may
    differ in other fields)."""
    there = other(side)
    source = item.current[there]
    assert isinstance(source, Record)
    sent = item.link.side(there).seen or source.fields
    base = {f: sent.get(f, v) for f, v in record.fields.items()}
    mine = SideState(record.id, record.version, record.fields, base, record.modified)
    link = item.link.with_side(side, mine).with_side(
        there, replace(item.link.side(there), base=sent)
    )
    return replace(item, link=link, current={**item.current, side: record}, paired="adopt")


def move(item: Item, side: Side, record: Record) -> Item:
    """`record` is the link's deleted `side` record under a new id: its bases stay."""
    link = item.link.with_side(side, replace(item.link.side(side), id=record.id, gone=False))
    return replace(item, link=link, current={**item.current, side: record}, paired="move")


# --- 2. and 3. pair unlinked records ---------------------------------------------------------


def paired_link(mailbox: Record, crm: Record) -> Link:
    """A new link for two records found to be one item: no bases yet, so the first decision
    sees both sides as changed (or merges them)."""
    return Link(
        mailbox=SideState(mailbox.id, mailbox.version, None, {}, mailbox.modified),
        crm=SideState(crm.id, crm.version, None, {}, crm.modified),
    )


def pair_by_identity(
    unlinked: Unlinked, identity: Sequence[str], merged: bool
) -> tuple[list[Item], Unlinked]:
    """First sync: an unlinked record on each side with the same content are one item.
    `merged` (a domain with a pairer): their other fields merge like the pairer's pairs, so
    an empty value never overwrites the other side's; else they are decided as changed on
    both sides. Returns the new items and what is still unlinked."""
    crm_by_fp: dict[str, list[Record]] = {}
    for record in unlinked[CRM]:
        fp = fingerprint(record.fields, identity)
        if fp:
            crm_by_fp.setdefault(fp, []).append(record)
    items: list[Item] = []
    mailbox_left: list[Record] = []
    taken: set[int] = set()  # the crm records paired, by object identity
    for record in unlinked[MAILBOX]:
        fp = fingerprint(record.fields, identity)
        if fp and crm_by_fp.get(fp):
            partner = crm_by_fp[fp].pop(0)
            taken.add(id(partner))
            current = {MAILBOX: record, CRM: partner}
            items.append(Item(paired_link(record, partner), current, "link", merge=merged))
        else:
            mailbox_left.append(record)
    crm_left = [r for r in unlinked[CRM] if id(r) not in taken]
    return items, {MAILBOX: mailbox_left, CRM: crm_left}


def pair_with(
    pairer: Pairer, items: Sequence[Item], unlinked: Unlinked, linked: Mapping[Side, set[str]]
) -> tuple[list[Item], Unlinked]:
    """The domain's pairer: the same item with differing content (merged), or a doubt to
    review. `linked`: ids the stored links know, which a pair may not take again."""
    if not (unlinked[MAILBOX] or unlinked[CRM]):
        return [], unlinked
    known = {s: [c for it in items if isinstance(c := it.current[s], Record)] for s in SIDES}
    found = pairer({s: list(unlinked[s]) for s in SIDES}, known)
    new: list[Item] = []
    taken: dict[Side, set[str]] = {s: set() for s in SIDES}
    for m_rec, c_rec in found.pairs:
        if m_rec.id in linked[MAILBOX] or m_rec.id in taken[MAILBOX]:
            continue  # already linked: a pairer may not take a record twice
        if c_rec.id in linked[CRM] or c_rec.id in taken[CRM]:
            continue
        taken[MAILBOX].add(m_rec.id)
        taken[CRM].add(c_rec.id)
        new.append(Item(paired_link(m_rec, c_rec), {MAILBOX: m_rec, CRM: c_rec}, merge=True))
    left: Unlinked = {}
    for s in SIDES:
        rest = [r for r in unlinked[s] if r.id not in taken[s]]
        for record in rest:
            reason = found.review.get((s, record.id))
            if reason:
                new.append(replace(new_item(s, record), review=reason))
        left[s] = [r for r in rest if (s, r.id) not in found.review]
    return new, left


# --- 4. new records --------------------------------------------------------------------------


def new_item(side: Side, record: Record) -> Item:
    return Item(Link().with_side(side, SideState(id=record.id)), {side: record, other(side): None})


def new_items(unlinked: Unlinked) -> list[Item]:
    return [new_item(s, record) for s in SIDES for record in unlinked[s]]


# --- 5. and 6. decide ------------------------------------------------------------------------


def step_for(item: Item, settings: Settings) -> Step | None:
    """The item's step; None when there is nothing to do or to record."""
    if item.merge:
        mailbox, crm = item.current[MAILBOX], item.current[CRM]
        assert isinstance(mailbox, Record) and isinstance(crm, Record)
        return merge(item.link, mailbox, crm, settings)
    if item.review is not None:
        return Step("review", item.link, item.current, reason=item.review)
    step = decide(item.link, item.current, settings)
    if item.paired is None:
        return step
    # A pairing is stored even when nothing is to be written, and names a state-only step.
    if step is None:
        return Step(item.paired, item.link, item.current, reason=item.paired)
    return replace(step, kind=item.paired) if step.kind == "refresh" else step


def guard(
    steps: Sequence[Step],
    links: Sequence[Link],
    cursors: Mapping[Side, str | None],
    settings: Settings,
) -> Plan:
    """Hold the deletions of a side when a run would delete too much of it."""
    out = list(steps)
    held: dict[Side, int] = {}
    for side in SIDES:
        deleting = [
            i
            for i, st in enumerate(out)
            if any(w.op == "delete" and w.side == side for w in st.writes)
        ]
        linked = sum(
            1
            for link in links
            if link.key is not None and link.side(side).id and not link.side(side).gone
        )
        n = len(deleting)
        if n >= settings.guard_minimum and n > settings.guard_fraction * linked:
            held[side] = n
            for i in deleting:
                out[i] = replace(
                    out[i],
                    kind="hold",
                    writes=(),
                    reason=f"{out[i].reason}; held: {n} of {linked} would be deleted",
                )
    return Plan(tuple(out), cursors, held)


# --- the run ---------------------------------------------------------------------------------


def plan(
    links: Iterable[Link],
    changes: Mapping[Side, ChangeSet],
    settings: Settings,
    identity: Sequence[str] = (),
    pairer: Pairer | None = None,
) -> Plan:
    """Decide a run: every link (reported or not) and every unlinked record."""
    links = list(links)
    cursors = {s: changes[s].cursor for s in SIDES}
    if settings.direction == "off":
        return Plan((), cursors)
    linked = linked_ids(links)
    items = items_of(links, changes)
    unlinked = unlinked_of(changes, linked)
    for side in SIDES:
        items, unlinked[side] = adopt_or_move(items, unlinked[side], side, identity)
    paired, unlinked = pair_by_identity(unlinked, identity, merged=pairer is not None)
    items += paired
    if pairer is not None:
        paired, unlinked = pair_with(pairer, items, unlinked, linked)
        items += paired
    items += new_items(unlinked)
    steps = [step for step in (step_for(item, settings) for item in items) if step is not None]
    return guard(steps, [item.link for item in items], cursors, settings)
