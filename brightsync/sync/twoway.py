"""The two-way decision core: pure functions from one status row and both sides to a step.

No I/O here: `decide()` takes one status row (`sync/status.Link`) and each side as this run
sees it, and returns the `Step` to take; `settle()` takes one step and what its writes
answered and returns the link as it must be stored. `sync/plan.py` decides a whole run with
them (pairing unlinked records first), and `sync/engine.py` does the I/O around them.

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
- Two records found to be one item (`merge`, for a domain's pairer) agree field by field: an
  empty value takes the other side's, lists are united, a real difference goes by the policy.
- Pairing records with no link, and the mass-deletion guard, are the run's: `sync/plan.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from brightsync.sync.adapter import CRM, MAILBOX, SIDES, Record, Side, other
from brightsync.sync.status import GONE, Current, Link, Settings, SideState, state_hash

_MISSING = object()


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


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def merge(link: Link, mailbox: Record, crm: Record, settings: Settings) -> Step:
    """The step that makes two records found to be one item agree, field by field: equal
    stays, an empty value takes the other's, lists are united (the winner's items first), a
    real difference goes by the policy (recorded as a conflict)."""
    records = {MAILBOX: mailbox, CRM: crm}
    winner = _winner(settings, mailbox, crm)
    loser = other(winner)
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
        source = other(side)
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


def decide(link: Link, current: Mapping[Side, Current], settings: Settings) -> Step | None:
    """The step for one link, or None when there is nothing to do or to record."""
    if settings.direction == "off":
        return None
    link = landed(link, current)
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


def landed(link: Link, current: Mapping[Side, Current]) -> Link:
    """The link with the updates it sent without an answer settled: one whose target now holds
    exactly what was sent landed, so both sides' merge bases move to those values (the source
    held them when they were sent) and neither reads as a change. Without this, our own
    delivered value reads as someone's edit of the target, and the person's next edit on the
    source (say, back to the old value) is undone. One that did not land is forgotten: the
    bases did not move, so the change is decided again as before."""
    if not link.sent:
        return link
    for side, fields in link.sent.items():
        target = current.get(side)  # type: ignore[call-overload]
        if not isinstance(target, Record):
            continue
        if any(target.fields.get(f) != v for f, v in fields.items()):
            continue
        for s in (side, other(side)):  # type: ignore[arg-type]
            state = link.side(s)
            link = link.with_side(s, replace(state, base={**state.base, **fields}))
    return replace(link, sent={})


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
            loser = other(source)
            lost.setdefault(loser, {})[f] = records[loser].fields[f]
        target = other(source)
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
            pending[other(write.side)] |= set(write.fields)

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
    # An update whose answer was lost may have landed: the next decision checks.
    sent = {
        w.side: dict(w.fields)
        for w in step.writes
        if w.op == "update"
        and failed.get(w.side) is not None
        and failed[w.side].kind == "transient"
    }
    return Link(link.key, new[MAILBOX], new[CRM], held, blocked, sent)


def _incoming(step: Step, side: Side, failed: Mapping[Side, Failed]) -> set[str]:
    """Fields a failed write should have brought to `side`: their base must not move."""
    if side not in failed:
        return set()
    return {f for w in step.writes if w.side == side for f in w.fields}
