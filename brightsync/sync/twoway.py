"""The two-way decision core: pure functions from status rows and both sides' changes to a plan.

No I/O here: `plan()` takes the status table as `Link`s and each side's `ChangeSet`, and
returns a `Plan` of `Step`s; `settle()` takes one step and what its writes answered and
returns the link as it must be stored. `sync/engine.py` does the I/O around them.

The model (after vdirsyncer's status table, with field-level merges):

- Each link keeps, per side, the record's id and version, the mapped fields **as last seen**
  (so a record the delta does not report is known to be unchanged) and a **merge base**: the
  values that side held when the two sides last agreed.
- A side changed a field when its current value differs from its own base. Values are mapped
  content, never raw records: what we wrote comes back equal to the base we stored from the
  write's answer, so it never echoes. Per-side bases make lossy mappings safe: a CRM status
  the mailbox can only hold coarsely stays "unchanged" on both sides.
- Decisions are state-based: a write that failed leaves the source side's base behind, so the
  next run (which evaluates every link) still sees the change and retries it, whether or not a
  delta reports the record again.
- Changed on one side only: copy the changed fields. Changed on both: disjoint fields merge;
  a field changed to different values goes by the org's policy (`newest`, `crm`, `mailbox`)
  and the losing value is recorded on the step. Deleted on one side and unchanged on the other:
  delete. Modified beats deleted: the modified record is re-created on the deleting side.
- `direction` limits which way values, creates and deletes flow; changes that may not flow
  are accepted into the base and left where they are.
- Mass-deletion guard: when one run would delete more than `guard_fraction` of one side's
  linked records (and at least `guard_minimum`), those deletions become `hold` steps.
- Records with no link are paired before anything is created: with a create on that side
  whose answer was lost (adopt), with a link whose record that side deleted in this same
  delta (a move: same content, new id), or with an unlinked record of the other side (first
  sync). Pairing compares the fields named by `identity`; a domain may also pass a `pairer`
  that finds the same item with differing content (the contacts' duplicate matcher): its
  pairs are linked with a field-level merge (an empty value takes the other side's, lists
  are united, a real difference goes by the policy), and records it sends to review get no
  create: they are stored blocked, with the reason, until their content changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from brightsync.sync.adapter import CRM, MAILBOX, SIDES, ChangeSet, Record, Side, content_hash

Direction = Literal["two-way", "to-crm", "to-mailbox", "off"]
Policy = Literal["newest", "crm", "mailbox"]
DIRECTIONS: tuple[str, ...] = ("two-way", "to-crm", "to-mailbox", "off")
POLICIES: tuple[str, ...] = ("newest", "crm", "mailbox")

# What a side looks like in this run: a Record (reported now, or as last seen), GONE (deleted),
# or None (the link has no record on that side yet).
GONE = "gone"
Current = Record | Literal["gone"] | None

_MISSING = object()


@dataclass(frozen=True)
class Settings:
    direction: Direction = "two-way"
    conflict: Policy = "newest"
    guard_fraction: float = 0.5
    guard_minimum: int = 10

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        if self.conflict not in POLICIES:
            raise ValueError(f"conflict must be one of {', '.join(POLICIES)}")

    def flows(self, source: Side, target: Side) -> bool:
        """May changes flow from `source` to `target`?"""
        if source == target or self.direction == "off":
            return False
        if self.direction == "two-way":
            return True
        return (source, self.direction) in ((MAILBOX, "to-crm"), (CRM, "to-mailbox"))


@dataclass(frozen=True)
class SideState:
    """One side of a status row."""

    id: str | None = None
    version: str | None = None
    seen: Mapping[str, Any] | None = None  # mapped fields as last seen
    base: Mapping[str, Any] = field(default_factory=dict)  # merge base for this side
    modified: datetime | None = None
    gone: bool = False  # tombstone: the record was deleted

    @property
    def hash(self) -> str | None:
        return None if self.seen is None else content_hash(self.seen)

    def record(self) -> Record | None:
        if self.id is None or self.seen is None:
            return None
        return Record(self.id, self.seen, self.version, self.modified)


@dataclass(frozen=True)
class Link:
    """A status row as the core sees it. `key` is the row id (None: not stored yet)."""

    key: int | None = None
    mailbox: SideState = field(default_factory=SideState)
    crm: SideState = field(default_factory=SideState)
    held: Side | None = None  # a deletion on this side waits for review
    blocked: str | None = None  # state hash at which a write failed for good

    def side(self, side: Side) -> SideState:
        return self.mailbox if side == MAILBOX else self.crm

    def with_side(self, side: Side, state: SideState) -> Link:
        return replace(self, **{side: state})

    @property
    def dead(self) -> bool:
        """Both records gone (or never made): a tombstone."""
        return all(s.gone or s.id is None for s in (self.mailbox, self.crm))


@dataclass(frozen=True)
class Write:
    op: Literal["create", "update", "delete"]
    side: Side  # where the write goes
    fields: Mapping[str, Any] = field(default_factory=dict)  # create: all; update: the patch


@dataclass(frozen=True)
class Step:
    """The decision for one link: `writes` to make (none for state-only steps) and why.

    kind: create | update | conflict | delete | hold | adopt | move | link | forget | refresh.
    `current` is each side as this run sees it; `conflicts` the fields decided by policy and
    `lost` the values that policy overruled, per side.
    """

    kind: str
    link: Link
    current: Mapping[Side, Current]
    writes: tuple[Write, ...] = ()
    reason: str = ""
    conflicts: tuple[str, ...] = ()
    lost: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "link": self.link.key,
            "mailbox_id": _id_of(self.current[MAILBOX]) or self.link.mailbox.id,
            "crm_id": _id_of(self.current[CRM]) or self.link.crm.id,
            "writes": [
                {"op": w.op, "side": w.side, "fields": sorted(w.fields)} for w in self.writes
            ],
            "reason": self.reason,
            "conflicts": list(self.conflicts),
        }


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


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def merge(link: Link, mailbox: Record, crm: Record, settings: Settings) -> Step:
    """The step that makes two records found to be one item agree, field by field: equal
    stays, an empty value takes the other's, lists are united (the winner's items first), a
    real difference goes by the policy (recorded as a conflict)."""
    records = {MAILBOX: mailbox, CRM: crm}
    winner = _winner(settings, mailbox, crm)
    loser = CRM if winner == MAILBOX else MAILBOX
    merged: dict[str, Any] = {}
    conflicts: list[str] = []
    lost: dict[str, dict[str, Any]] = {}
    for f in sorted(set(mailbox.fields) & set(crm.fields)):
        mv, cv = mailbox.fields[f], crm.fields[f]
        if mv == cv:
            continue
        w, lv = records[winner].fields[f], records[loser].fields[f]
        if _empty(mv) or _empty(cv):
            merged[f] = cv if _empty(mv) else mv
        elif isinstance(w, list | tuple) and isinstance(lv, list | tuple):
            merged[f] = list(w) + [x for x in lv if x not in w]
        else:
            merged[f] = w
            conflicts.append(f)
            lost.setdefault(loser, {})[f] = lv
    writes = []
    for side in SIDES:
        source = CRM if side == MAILBOX else MAILBOX
        patch = {f: v for f, v in merged.items() if records[side].fields.get(f) != v}
        if patch and settings.flows(source, side):
            writes.append(Write("update", side, patch))
    return Step(
        "link",
        link,
        {MAILBOX: mailbox, CRM: crm},
        tuple(writes),
        "the same item on both sides: merged",
        tuple(conflicts),
        lost,
    )


def _id_of(current: Current) -> str | None:
    return current.id if isinstance(current, Record) else None


def state_hash(current: Mapping[Side, Current]) -> str:
    """Both sides' current content: a write that failed for good is not retried until this
    changes."""
    return content_hash(
        {side: (c.fields if isinstance(c, Record) else c) for side, c in sorted(current.items())}
    )


def observed(link: Link, current: Mapping[Side, Current]) -> Link:
    """`link` with what this run sees recorded (ids, versions, fields), bases untouched: the
    row to store before a write, so a crash after it still knows what was seen."""
    for side in SIDES:
        cur = current[side]
        if isinstance(cur, Record):
            state = link.side(side)
            link = link.with_side(
                side,
                replace(
                    state,
                    id=cur.id,
                    version=cur.version,
                    seen=cur.fields,
                    modified=cur.modified,
                    gone=False,
                ),
            )
    return link


def fingerprint(fields: Mapping[str, Any] | None, identity: Sequence[str]) -> str | None:
    if fields is None or not identity:
        return None
    return content_hash({k: fields.get(k) for k in identity})


# --- one link -------------------------------------------------------------------------------


def _changed(current: Record, base: Mapping[str, Any]) -> set[str]:
    return {f for f, v in current.fields.items() if base.get(f, _MISSING) != v}


def _winner(settings: Settings, mailbox: Record, crm: Record) -> Side:
    if settings.direction == "to-crm":
        return MAILBOX
    if settings.direction == "to-mailbox":
        return CRM
    if settings.conflict == "mailbox":
        return MAILBOX
    if settings.conflict == "newest" and mailbox.modified and crm.modified:
        return MAILBOX if mailbox.modified > crm.modified else CRM
    return CRM  # `crm`, or `newest` without two timestamps: the system of record wins ties


def current_of(link: Link, side: Side, changes: ChangeSet | None) -> Current:
    """What `side` of `link` looks like in this run."""
    state = link.side(side)
    if state.id is None:
        return None
    if changes is not None:
        if state.id in changes.deleted:
            return GONE
        for record in changes.records:
            if record.id == state.id:
                return record
    if state.gone:
        return GONE
    return state.record()


def decide(link: Link, current: Mapping[Side, Current], settings: Settings) -> Step | None:
    """The step for one link, or None when there is nothing to do or to record."""
    if settings.direction == "off":
        return None
    if link.blocked is not None and link.blocked == state_hash(current):
        return None
    mailbox, crm = current[MAILBOX], current[CRM]
    if isinstance(mailbox, Record) and isinstance(crm, Record):
        return _both_present(link, mailbox, crm, settings)
    for here, there in ((MAILBOX, CRM), (CRM, MAILBOX)):
        present, other_state = current[here], current[there]
        if isinstance(present, Record):
            return _one_present(link, here, present, there, other_state, settings)
    # Nothing left on either side.
    if link.dead and all(link.side(s).gone == (current[s] == GONE) for s in SIDES):
        return None
    return Step("forget", link, current, reason="gone on both sides")


def _both_present(link: Link, mailbox: Record, crm: Record, settings: Settings) -> Step | None:
    current: dict[Side, Current] = {MAILBOX: mailbox, CRM: crm}
    changed = {MAILBOX: _changed(mailbox, link.mailbox.base), CRM: _changed(crm, link.crm.base)}
    patch: dict[Side, dict[str, Any]] = {MAILBOX: {}, CRM: {}}
    conflicts: list[str] = []
    lost: dict[str, dict[str, Any]] = {}
    records = {MAILBOX: mailbox, CRM: crm}
    for f in sorted(set(mailbox.fields) & set(crm.fields)):
        mv, cv = mailbox.fields[f], crm.fields[f]
        if mv == cv:
            continue
        by = {s for s in SIDES if f in changed[s]}
        if not by:
            continue  # a lossy mapping at rest: each side holds what it can
        if len(by) == 1:
            source = by.pop()
        else:
            source = _winner(settings, mailbox, crm)
            conflicts.append(f)
            loser = CRM if source == MAILBOX else MAILBOX
            lost.setdefault(loser, {})[f] = records[loser].fields[f]
        target = CRM if source == MAILBOX else MAILBOX
        if settings.flows(source, target):
            patch[target][f] = records[source].fields[f]
    writes = tuple(Write("update", side, p) for side, p in patch.items() if p)
    if writes:
        kind = "conflict" if conflicts else "update"
        reason = "changed on both sides" if conflicts else "changed"
        return Step(kind, link, current, writes, reason, tuple(conflicts), lost)
    step = Step("refresh", link, current, reason="nothing to write")
    return step if settle(step, {}) != link else None


def _one_present(
    link: Link,
    here: Side,
    record: Record,
    there: Side,
    other: Current,
    settings: Settings,
) -> Step | None:
    current: dict[Side, Current] = {here: record, there: other}
    base = link.side(here).base
    if other is None:
        # No record there yet: a new record, or a create still owed.
        if settings.flows(here, there):
            return Step("create", link, current, (Write("create", there, record.fields),), "new")
        if link.key is None:
            return None  # not ours to track while the direction keeps it on its side
        step = Step("refresh", link, current, reason="new, direction keeps it on its side")
        return step if settle(step, {}) != link else None
    # The other side deleted it.
    modified = bool(_changed(record, base))
    if modified and settings.flows(here, there):
        return Step(
            "create",
            link,
            current,
            (Write("create", there, record.fields),),
            "modified here, deleted there: modified wins",
        )
    if not modified and settings.flows(there, here):
        if link.held == here:
            return None  # already waiting for review
        return Step("delete", link, current, (Write("delete", here),), f"deleted in {there}")
    step = Step("refresh", link, current, reason=f"deleted in {there}, direction keeps it")
    return step if settle(step, {}) != link else None


# --- the run --------------------------------------------------------------------------------


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
    by_id: dict[Side, dict[str, int]] = {s: {} for s in SIDES}
    for i, link in enumerate(links):
        for s in SIDES:
            if link.side(s).id is not None:
                by_id[s][link.side(s).id] = i
    currents: list[dict[Side, Current]] = [
        {s: current_of(link, s, changes[s]) for s in SIDES} for link in links
    ]
    unlinked: dict[Side, list[Record]] = {s: [] for s in SIDES}
    for s in SIDES:
        deleted = set(changes[s].deleted)
        for record in changes[s].records:
            if record.id not in by_id[s] and record.id not in deleted:
                unlinked[s].append(record)

    kinds: dict[int, str] = {}
    # 1. adopt a record a lost create made; 2. a delete + create with the same content is a
    # move. Both match the unlinked record against what the link expects on that side.
    for s in SIDES:
        other = CRM if s == MAILBOX else MAILBOX
        waiting: dict[str, list[int]] = {}
        moved: dict[str, list[int]] = {}
        for i, link in enumerate(links):
            mine, source = link.side(s), currents[i][other]
            if mine.id is None and isinstance(source, Record):
                # What was sent (seen when the intent was stored), or the source as it is now.
                sent = link.side(other).seen
                for fp in {fingerprint(sent, identity), fingerprint(source.fields, identity)}:
                    if fp:
                        waiting.setdefault(fp, []).append(i)
            elif currents[i][s] == GONE and not mine.gone and mine.seen is not None:
                fp = fingerprint(mine.seen, identity)
                if fp:
                    moved.setdefault(fp, []).append(i)
        remaining = []
        for record in unlinked[s]:
            fp = fingerprint(record.fields, identity)
            pending = [i for i in waiting.get(fp or "", []) if links[i].side(s).id is None]
            if pending:
                i = pending[0]
                src = currents[i][other]
                assert isinstance(src, Record)
                # Adopted as created from what was sent: a later edit of either record still
                # shows as a change (a record matched by content may differ in other fields).
                sent = links[i].side(other).seen or src.fields
                base = {f: sent.get(f, v) for f, v in record.fields.items()}
                mine = SideState(record.id, record.version, record.fields, base, record.modified)
                links[i] = (
                    links[i]
                    .with_side(s, mine)
                    .with_side(other, replace(links[i].side(other), base=sent))
                )
                currents[i][s] = record
                kinds[i] = "adopt"
            elif fp in moved and moved[fp]:
                i = moved[fp].pop(0)
                links[i] = links[i].with_side(
                    s, replace(links[i].side(s), id=record.id, gone=False)
                )
                currents[i][s] = record
                kinds[i] = "move"
            else:
                remaining.append(record)
        unlinked[s] = remaining

    # 3. first sync: an unlinked record on each side with the same content are one item. A
    # domain with a pairer merges their other fields like its pairs (an empty value never
    # overwrites the other side's); without one they are decided as changed on both sides.
    merged_first: set[int] = set()
    crm_by_fp: dict[str, list[Record]] = {}
    for record in unlinked[CRM]:
        fp = fingerprint(record.fields, identity)
        if fp:
            crm_by_fp.setdefault(fp, []).append(record)
    for record in list(unlinked[MAILBOX]):
        fp = fingerprint(record.fields, identity)
        if fp and crm_by_fp.get(fp):
            partner = crm_by_fp[fp].pop(0)
            unlinked[MAILBOX].remove(record)
            unlinked[CRM].remove(partner)
            links.append(
                Link(
                    mailbox=SideState(record.id, record.version, None, {}, record.modified),
                    crm=SideState(partner.id, partner.version, None, {}, partner.modified),
                )
            )
            currents.append({MAILBOX: record, CRM: partner})
            kinds[len(links) - 1] = "link"
            if pairer is not None:
                merged_first.add(len(links) - 1)
    # 3b. the domain's pairer: the same item with differing content, or a doubt to review.
    merged: set[int] = set(merged_first)
    review: dict[int, str] = {}
    if pairer is not None and (unlinked[MAILBOX] or unlinked[CRM]):
        known = {s: [c[s] for c in currents if isinstance(c[s], Record)] for s in SIDES}
        found = pairer({s: list(unlinked[s]) for s in SIDES}, known)
        for m_rec, c_rec in found.pairs:
            if m_rec.id in by_id[MAILBOX] or c_rec.id in by_id[CRM]:
                continue  # already linked: a pairer may not take a record twice
            unlinked[MAILBOX] = [r for r in unlinked[MAILBOX] if r.id != m_rec.id]
            unlinked[CRM] = [r for r in unlinked[CRM] if r.id != c_rec.id]
            by_id[MAILBOX][m_rec.id] = by_id[CRM][c_rec.id] = len(links)
            links.append(
                Link(
                    mailbox=SideState(m_rec.id, m_rec.version, None, {}, m_rec.modified),
                    crm=SideState(c_rec.id, c_rec.version, None, {}, c_rec.modified),
                )
            )
            currents.append({MAILBOX: m_rec, CRM: c_rec})
            merged.add(len(links) - 1)
        for s in SIDES:
            for record in unlinked[s]:
                reason = found.review.get((s, record.id))
                if reason:
                    review[len(links)] = reason
                    links.append(Link().with_side(s, SideState(id=record.id)))
                    currents.append({s: record, (CRM if s == MAILBOX else MAILBOX): None})
            unlinked[s] = [r for r in unlinked[s] if (s, r.id) not in found.review]
    # 4. the rest is new.
    for s in SIDES:
        for record in unlinked[s]:
            links.append(Link().with_side(s, SideState(id=record.id)))
            currents.append({s: record, (CRM if s == MAILBOX else MAILBOX): None})

    steps: list[Step] = []
    for i, link in enumerate(links):
        if i in merged:
            m_cur, c_cur = currents[i][MAILBOX], currents[i][CRM]
            assert isinstance(m_cur, Record) and isinstance(c_cur, Record)
            steps.append(merge(link, m_cur, c_cur, settings))
            continue
        if i in review:
            steps.append(Step("review", link, currents[i], reason=review[i]))
            continue
        step = decide(link, currents[i], settings)
        if i in kinds:
            if step is None:
                step = Step(kinds[i], link, currents[i], reason=kinds[i])
            elif step.kind in ("refresh", "update", "conflict"):
                step = replace(step, kind=kinds[i] if step.kind == "refresh" else step.kind)
        if step is not None:
            steps.append(step)
    return _guard(steps, links, cursors, settings)


def _guard(
    steps: list[Step], links: list[Link], cursors: Mapping[Side, str | None], settings: Settings
) -> Plan:
    """Hold the deletions of a side when a run would delete too much of it."""
    held: dict[Side, int] = {}
    for side in SIDES:
        deleting = [
            i
            for i, st in enumerate(steps)
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
                steps[i] = replace(
                    steps[i],
                    kind="hold",
                    writes=(),
                    reason=f"{steps[i].reason}; held: {n} of {linked} would be deleted",
                )
    return Plan(tuple(steps), cursors, held)


# --- after the writes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Failed:
    """A write that did not happen (or may not have: `transient`).

    kind: transient (retry later) | final (4xx: recorded, not retried until content changes)
    | gone (the target record no longer exists) | held (the side keeps it back for review).
    """

    kind: Literal["transient", "final", "gone", "held"]
    reason: str = ""


Outcome = Record | None | Failed  # created/updated record; None: deleted


def settle(step: Step, outcomes: Mapping[int, Outcome]) -> Link:
    """The link to store after `step`, given each write's outcome by index (missing: not run).

    Observed facts (what each side looks like now, deletions) are always kept; a side's merge
    base advances only for values that reached the other side, so failures are retried.
    """
    link = step.link
    ok: dict[Side, Record | None] = {}
    failed: dict[Side, Failed] = {}
    for i, write in enumerate(step.writes):
        outcome = outcomes.get(i, Failed("transient", "not run"))
        if isinstance(outcome, Failed):
            failed[write.side] = outcome
            continue
        ok[write.side] = outcome
    pending: dict[Side, set[str]] = {MAILBOX: set(), CRM: set()}  # by source, not delivered
    for write in step.writes:
        if write.side in failed:
            pending[CRM if write.side == MAILBOX else MAILBOX] |= set(write.fields)

    new: dict[Side, SideState] = {}
    for side in SIDES:
        old = link.side(side)
        cur = step.current[side]
        if side in ok:
            written = ok[side]
            write = next(w for w in step.writes if w.side == side)
            if write.op == "delete" or written is None:
                new[side] = replace(old, gone=True)
                continue
            base = dict(written.fields) if write.op == "create" else dict(old.base)
            if write.op == "update":
                base.update({f: written.fields.get(f) for f in write.fields})
                # Fields this side changed itself follow the rule below.
                if isinstance(cur, Record):
                    for f, v in cur.fields.items():
                        if f not in write.fields and f not in pending[side]:
                            base[f] = v
            new[side] = SideState(
                written.id, written.version, written.fields, base, written.modified, False
            )
            continue
        if side in failed and failed[side].kind == "gone":
            new[side] = replace(old, gone=True)
            continue
        if isinstance(cur, Record):
            base = dict(old.base)
            for f, v in cur.fields.items():
                if f not in pending[side] and f not in _incoming(step, side, failed):
                    base[f] = v
            new[side] = SideState(cur.id, cur.version, cur.fields, base, cur.modified, False)
        elif cur == GONE:
            new[side] = replace(old, gone=True)
        else:
            new[side] = old
    # A hold lasts until review, or until the held record changes (then it is re-created).
    held: Side | None = None
    if step.kind == "hold":
        held = next(s for s in SIDES if isinstance(step.current[s], Record))
    elif step.kind == "refresh":
        held = link.held
    for side, failure in failed.items():
        if failure.kind == "held":
            held = side  # like a guarded deletion: waits for review, not retried
    blocked = None
    if any(f.kind == "final" for f in failed.values()) or step.kind == "review":
        blocked = state_hash(step.current)  # not tried again until the content changes
    return Link(link.key, new[MAILBOX], new[CRM], held, blocked)


def _incoming(step: Step, side: Side, failed: Mapping[Side, Failed]) -> set[str]:
    """Fields a failed write should have brought to `side`: their base must not move."""
    if side not in failed:
        return set()
    return {f for w in step.writes if w.side == side for f in w.fields}
