"""Runs the two-way core for one user and domain: read, plan, execute, keep the status table.

    result = engine.sync(adapter, scope, settings, lease)               # one run of a domain
    result = engine.sync(adapter, scope, settings, lease, review=True)  # decide, change nothing

(`sync.handler.run_twoway` builds the scope and lease; `sync.links` keeps rows and cursors.)

A run reads both sides' changes since the stored cursors, loads every link of the user and domain,
asks `sync.plan.plan()` for the steps and executes them one by one:

- Each step is recorded on its own link row in its own transaction, so one failing record never
  aborts the run. A final 4xx is stored on the link (`error`, `blocked`) and not retried until the
  content changes; a transient error leaves the merge bases where they were, so the next run (which
  evaluates every link, reported or not) repeats the write. After a run with deferred writes the
  handler raises `TransientError`, and the scheduler retries with backoff; writes that only wait
  for another worker's create (`CreateBusy`) end it in `WritesWaiting`.
- Writes are recorded before they are sent. An update's fields (`update_intent`) found on the
  target by the next decision count as delivered (`twoway.landed`). A create's intent
  (`intent_key`, `intent_side`) makes a later run `find` what the first attempt made before a
  second create goes out (mailbox records without a lookup: adopted, `sync.plan`).
- A 412 re-reads the record and decides that link again (once); a 404 on update means the record is
  gone, which is decided again too (modified beats deleted).
- Every state write (link rows, cursors) is fenced by the run lease: it commits only while this run
  still holds the lease, so a run that lost it can never overwrite its successor.
- Cursors are stored after all steps are handled: everything a run observed is already on the link
  rows by then, so a crash before that only repeats harmless, echo-free decisions. A side read
  without a cursor is listed in full, which reports no deletions: the linked records the listing
  leaves out are read once (`sync.listing`), so a deletion made after a dead run stored its links
  still reaches the other side.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select

from brightsync.clients.http import (
    AuthError,
    FinalError,
    NotFoundError,
    PreconditionFailed,
    TransientError,
)
from brightsync.db import session_scope
from brightsync.models import ObjectLink
from brightsync.ops.progress import progress
from brightsync.review import mode as review_mode
from brightsync.sync import links, listing
from brightsync.sync.adapter import (
    CRM,
    MAILBOX,
    SIDES,
    Adapter,
    ChangeSet,
    Held,
    Record,
    Side,
)
from brightsync.sync.creates import CreateBusy, WritesWaiting
from brightsync.sync.links import Lease, Scope
from brightsync.sync.plan import Pairer, Plan, plan
from brightsync.sync.status import GONE, Link, Settings, SideState, observed
from brightsync.sync.twoway import Failed, Outcome, Step, Write, decide, settle

log = logging.getLogger(__name__)

STALE = "changed meanwhile"
WAITING = "waits for another worker's create"
HELD = "%s sync for user %s: %d deletions in the %s held for review"


@dataclass
class Result:
    plan: Plan
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n


class Engine:
    """Executes plans for one scope under one lease. `identity`: fields that identify a record
    for pairing (see `sync.plan`)."""

    def __init__(
        self,
        adapter: Adapter,
        scope: Scope,
        settings: Settings,
        lease: Lease,
        identity: Sequence[str] = (),
        on_progress: Callable[[dict[str, int]], None] | None = None,
        pairer: Pairer | None = None,
    ) -> None:
        self.pairer = pairer
        self.adapter = adapter
        self.scope = scope
        self.settings = settings
        self.lease = lease
        self.identity = tuple(identity)
        self.on_progress = on_progress
        # The longest Retry-After a deferred write was told: the follow-up run waits that long,
        # and otherwise backs off from seconds (a colleague's create in flight ends quickly).
        self.retry_after = 0.0
        self.seen = 0  # records this run read (for progress)

    # -- deciding --

    def plan(self, changes: dict[Side, ChangeSet]) -> Plan:
        with session_scope() as s:
            known = links.load_links(s, self.scope)
        return plan(known, changes, self.settings, self.identity, self.pairer)

    def resolve_intents(self) -> int:
        """Look for what earlier unanswered creates made, before deciding anything: a record
        found is bound to its link as created (from what was sent), so it can never be taken
        for a new record and copied back. Returns how many were found."""
        with session_scope() as s:
            rows = s.scalars(
                select(ObjectLink).where(
                    ObjectLink.user_id == self.scope.user_id,
                    ObjectLink.domain == self.scope.domain,
                    ObjectLink.intent_key.is_not(None),
                )
            )
            pending = [(links.link_of(r), r.intent_side, r.intent_key) for r in rows]
        found_n = 0
        for link, side, key in pending:
            mine = link.side(side)
            # A record made again where it was deleted (modified beats deleted) is owed too.
            if side not in SIDES or (mine.id is not None and not mine.gone) or key is None:
                continue
            source: Side = CRM if side == MAILBOX else MAILBOX
            sent = link.side(source).record()
            if sent is None:
                continue
            try:
                found = self.adapter.find(side, sent.fields, key)
            except (TransientError, FinalError):
                continue  # the create step looks again
            if found is None:
                continue
            step = Step(
                "adopt",
                link,
                {source: sent, side: None},
                (Write("create", side, sent.fields),),
                "found what an unanswered create made",
            )
            self._save(settle(step, {0: found}), intent_key=None, intent_side=None)
            found_n += 1
        return found_n

    # -- executing --

    def execute(self, the_plan: Plan) -> Result:
        result = Result(the_plan)
        started = time.monotonic()
        total = len(the_plan.steps)
        for n, step in enumerate(the_plan.steps, 1):
            self._step(step, result, again=True)
            if self.on_progress and n % 25 == 0:
                elapsed = time.monotonic() - started
                self.on_progress(
                    {**result.counters, **progress(max(self.seen, total), n, total, elapsed)}
                )
        for side, n in (the_plan.held or {}).items():
            log.warning(HELD, self.scope.domain, self.scope.user_id, n, side)
        return result

    def _save(self, link: Link, **extra: Any) -> Link:
        return links.save_link(self.lease, self.scope, link, **extra)

    def _intent(self, step: Step) -> tuple[Link, str | None, bool]:
        """Record a create before it is sent. Returns the stored link, the intent key and
        whether that key was already on record (then the create may have happened)."""
        creates = [w for w in step.writes if w.op == "create"]
        updates = {w.side: dict(w.fields) for w in step.writes if w.op == "update"}
        if not creates:
            if step.link.key is None:
                saved = self._save(observed(step.link, step.current))
                return replace(step.link, key=saved.key), None, False
            if updates:
                # Recorded before it is sent: an answer lost (or a worker killed after the
                # write) is recognised on the next run, not read as someone else's change.
                self._save(replace(step.link, sent=updates))
            return step.link, None, False
        side = creates[0].side
        with session_scope() as s:
            row = s.get(ObjectLink, step.link.key) if step.link.key is not None else None
            known = row is not None and row.intent_side == side and row.intent_key
            key = row.intent_key if known and row else None
        if key is None:
            key = uuid.uuid4().hex
        link = self._save(observed(step.link, step.current), intent_key=key, intent_side=side)
        return replace(step.link, key=link.key), key, bool(known)

    def _write(self, step: Step, index: int, key: str | None, retrying: bool) -> Outcome:
        write = step.writes[index]
        side = write.side
        adapter = self.adapter
        try:
            if write.op == "create":
                assert key is not None
                if retrying:
                    found = adapter.find(side, write.fields, key)
                    if found is not None:
                        return found
                return adapter.create(side, write.fields, key)
            target = step.link.side(side)
            assert target.id is not None
            if write.op == "update":
                return adapter.update(side, target.id, write.fields, target.version)
            try:
                adapter.delete(side, target.id, target.version)
            except NotFoundError:
                pass  # already gone: the deletion is done
            return None
        except Held as exc:
            return Failed("held", str(exc))
        except PreconditionFailed as exc:
            return Failed("transient", f"{STALE}: {exc}")
        except NotFoundError as exc:
            return Failed("gone", str(exc))
        except AuthError:
            raise  # the whole mailbox or connection is refused: the run stops
        except FinalError as exc:
            return Failed("final", str(exc))
        except TransientError as exc:
            self.retry_after = max(self.retry_after, exc.retry_after or 0.0)
            waiting = f"{WAITING}: " if isinstance(exc, CreateBusy) else ""
            return Failed("transient", f"{waiting}{exc}")
        except (ValueError, KeyError, TypeError) as exc:
            # A record the adapter cannot map: this record fails, the run goes on.
            log.exception("%s: cannot write record", self.scope.domain)
            return Failed("final", f"{type(exc).__name__}: {exc}")

    def _step(self, step: Step, result: Result, again: bool) -> None:
        link, key, retrying = self._intent(step)
        step = replace(step, link=link)
        outcomes: dict[int, Outcome] = {}
        stale: Side | None = None
        for i, write in enumerate(step.writes):
            outcome = self._write(step, i, key, retrying)
            outcomes[i] = outcome
            if not isinstance(outcome, Failed):
                result.count(f"{write.side}_{write.op}d")
                continue
            log.info(
                "%s %s in %s on link %s failed (%s): %s",
                self.scope.domain,
                write.op,
                write.side,
                link.key,
                outcome.kind,
                outcome.reason,
            )
            if again and (outcome.kind == "gone" or outcome.reason.startswith(STALE)):
                stale = write.side  # decided again below, with a fresh read
            elif outcome.kind in ("final", "held"):
                result.count("failed" if outcome.kind == "final" else "held")
            else:
                result.count("waiting" if outcome.reason.startswith(WAITING) else "deferred")
        settled = replace(settle(step, outcomes), key=link.key)
        extra = links.step_columns(step, outcomes, self.settings.conflict)
        for kind, counter in (("review", "review"), ("hold", "held")):
            if step.kind == kind:
                result.count(counter)
        if step.conflicts:
            result.count("conflicts")
        settled = self._save(settled, **extra)
        if stale is not None:
            # Someone changed (or deleted) the record meanwhile: read it and decide again.
            current = dict(step.current)
            current[stale] = self._reread(stale, settled)
            again_step = decide(settled, current, self.settings)
            if again_step is not None:
                self._step(again_step, result, again=False)

    def _reread(self, side: Side, link: Link) -> Record | str | None:
        state = link.side(side)
        if state.id is None or state.gone:
            return GONE if state.gone else None
        try:
            fresh = self.adapter.get(side, state.id)
        except NotFoundError:
            return GONE
        return GONE if fresh is None else fresh

    # -- review --

    def release_held(self, link_ids: Sequence[int]) -> Result:
        """Carry out deletions the guard held, after review (only those still held)."""
        with session_scope() as s:
            rows = s.scalars(
                select(ObjectLink).where(
                    ObjectLink.id.in_(list(link_ids)),
                    ObjectLink.user_id == self.scope.user_id,
                    ObjectLink.domain == self.scope.domain,
                    ObjectLink.held.is_not(None),
                )
            )
            held = [links.link_of(row) for row in rows]
        result = Result(Plan((), {MAILBOX: None, CRM: None}))
        for link in held:
            assert link.held is not None
            current = {
                link.held: link.side(link.held).record(),
                (CRM if link.held == MAILBOX else MAILBOX): GONE,
            }
            write = Write("delete", link.held)
            step = Step("delete", link, current, (write,), "deletion released on review")
            self._step(step, result, again=False)
        return result

    def apply_held_decisions(self) -> Result | None:
        """Carry out people's decisions on this scope's held deletions (`review.held` records
        them). Approve: the held deletion is made. Reject: the deletion is dropped for good:
        the link forgets the side that was deleted, so the surviving record counts as new there
        and is created again (restored), where the direction lets it flow."""
        decided = links.held_decisions(self.scope)
        if not decided:
            return None
        approved = decided.get("approve", [])
        rejected = decided.get("reject", [])
        result = self.release_held(approved) if approved else None
        for link_id in rejected:
            link = links.held_link(link_id)
            if link is None:
                continue
            gone: Side = CRM if link.held == MAILBOX else MAILBOX
            # The kept record is unpaired now, so the plan creates it there again.
            self._save(replace(link.with_side(gone, SideState()), held=None))
        # Applied once: a deletion the side still refuses (e.g. a CRM contact with logged mail)
        # stays held with that reason and undecided, rather than being retried every run.
        links.forget_decisions(self.lease, approved + rejected)
        return result


def sync(
    adapter: Adapter,
    scope: Scope,
    settings: Settings,
    lease: Lease,
    *,
    identity: Sequence[str] = (),
    review: bool = False,
    count: Callable[[str, int], None] | None = None,
    on_progress: Callable[[dict[str, int]], None] | None = None,
    pairer: Pairer | None = None,
) -> Result:
    """One run: read both sides since the stored cursors, plan, and (unless `review`) execute
    the plan and store the new cursors. Raises TransientError after the run when writes were
    deferred, so the caller retries later (everything done is kept), and WritesWaiting when
    they only wait for another worker's create."""
    engine = Engine(adapter, scope, settings, lease, identity, on_progress, pairer)
    if settings.direction == "off":
        return Result(Plan((), {MAILBOX: None, CRM: None}))
    cursors = links.read_cursors(lease.state_id)
    changes = {side: adapter.changes(side, cursors[side]) for side in SIDES}
    full = [side for side in SIDES if cursors[side] is None or changes[side].listed]
    if full:  # a listing reports no deletions: the linked records it leaves out are read
        with session_scope() as s:
            known = links.load_links(s, scope)
        listing.confirm_unlisted(adapter, known, changes, full)
    engine.seen = sum(len(c.records) + len(c.deleted) for c in changes.values())
    if not review:
        engine.resolve_intents()
        engine.apply_held_decisions()  # people's decisions on held deletions, before planning
    the_plan = engine.plan(changes)
    log.info("%s sync for user %s: %s", scope.domain, scope.user_id, the_plan.describe()["counts"])
    if review:
        # Recorded, not executed; the cursors stay put so the live run sees the same changes.
        review_mode.record(
            scope.user_id, scope.domain, review_mode.plan_report(the_plan.describe())
        )
        return Result(the_plan)
    result = engine.execute(the_plan)
    links.store_cursors(lease, dict(the_plan.cursors))
    links.prune_tombstones(scope)
    if count is not None:
        for key, n in result.counters.items():
            count(key, n)
    deferred, waiting = (result.counters.get(k, 0) for k in ("deferred", "waiting"))
    if deferred or waiting:
        error, what = (
            (TransientError, f"{deferred} {scope.domain} writes deferred")
            if deferred
            else (WritesWaiting, f"{waiting} {scope.domain} writes {WAITING}")
        )
        raise error(what, retry_after=engine.retry_after or None)
    return result
