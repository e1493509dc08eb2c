"""Runs the two-way core for one user and domain: read, plan, execute, keep the status table.

    plan = engine.sync(adapter, scope, settings, ctx)          # one run of a domain's handler
    plan = engine.sync(adapter, scope, settings, ctx, review=True)   # decide only, change nothing

A run reads both sides' changes since the stored cursors, loads every link of the user and
domain, asks `twoway.plan()` for the steps and executes them one by one:

- Each step is recorded on its own link row in its own transaction, so one failing record
  never aborts the run. A final 4xx is stored on the link (`error`, `blocked`) and not retried
  until the content changes; a transient error leaves the merge bases where they were, so the
  next run (which evaluates every link, reported or not) repeats the write. After a run with
  deferred writes the handler raises `TransientError`, and the scheduler retries with backoff.
- A create is recorded (`intent_key`, `intent_side`) before it is sent. When that intent is
  found on a later run the adapter's `find` looks for what the first attempt made before a
  second create goes out; mailbox records without a lookup are adopted by content from the
  next delta (`twoway.plan`, "adopt").
- A 412 re-reads the record and decides that link again (once); a 404 on update means the
  record is gone, which is decided again too (modified beats deleted).
- Every state write (link rows, cursors) is fenced by the run lease: it commits only while
  this run still holds the lease, so a run that lost it can never overwrite its successor.
- Cursors are stored after all steps are handled: everything a run observed is already on
  the link rows by then, so a crash before that only repeats harmless, echo-free decisions.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from brightsync.clients.http import (
    AuthError,
    FinalError,
    NotFoundError,
    PreconditionFailed,
    TransientError,
)
from brightsync.db import session_scope
from brightsync.models import ObjectLink, SyncState, utcnow
from brightsync.ops.progress import progress
from brightsync.review import held
from brightsync.review import mode as review_mode
from brightsync.sync import leases
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
from brightsync.sync.plan import Pairer, Plan, plan
from brightsync.sync.status import GONE, Link, Settings, SideState, observed
from brightsync.sync.twoway import Failed, Outcome, Step, Write, decide, settle

log = logging.getLogger(__name__)

TOMBSTONE_DAYS = 30
STALE = "changed meanwhile"


# A run that lost its lease to another stops at its next state write (`sync.leases`).
LeaseLost = leases.LeaseLost


@dataclass(frozen=True)
class Scope:
    """Whose links: one user's records of one domain."""

    org_id: int
    user_id: int
    domain: str


@dataclass(frozen=True)
class Lease:
    """The run lease every state write is fenced by (`RunContext.state_id` and `.token`)."""

    state_id: int
    token: str

    def fence(self, session: Session) -> None:
        """Extend the run lease inside `session`'s transaction, or raise LeaseLost.

        The fenced UPDATE holds the sync_state row until commit, so no other run can take the
        lease between this check and the writes that follow it in the same transaction.
        """
        leases.fenced_update(
            session, SyncState, self.state_id, self.token, lease_until=leases.expiry()
        )


@dataclass
class Result:
    plan: Plan
    counters: dict[str, int] = field(default_factory=dict)
    deferred: int = 0

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n


# --- the status table <-> the core's Link ---------------------------------------------------


def _side_from_row(row: ObjectLink, side: Side) -> SideState:
    return SideState(
        id=getattr(row, f"{side}_id"),
        version=getattr(row, f"{side}_version"),
        seen=getattr(row, f"{side}_fields"),
        base=getattr(row, f"{side}_base") or {},
        modified=getattr(row, f"{side}_modified"),
        gone=bool(getattr(row, f"{side}_gone")),
    )


def link_of(row: ObjectLink) -> Link:
    return Link(
        key=row.id,
        mailbox=_side_from_row(row, MAILBOX),
        crm=_side_from_row(row, CRM),
        held=row.held,  # type: ignore[arg-type]
        blocked=row.blocked,
    )


def _state_of(link: Link, row: ObjectLink) -> str:
    if link.dead:
        return "deleted"
    if link.held:
        return "held"
    if link.blocked:
        return "failed"
    if row.intent_key or any(link.side(s).id is None for s in SIDES):
        return "creating"
    return "synced"


def _store(row: ObjectLink, link: Link) -> None:
    for side in SIDES:
        state = link.side(side)
        setattr(row, f"{side}_id", state.id)
        setattr(row, f"{side}_version", state.version)
        setattr(row, f"{side}_fields", dict(state.seen) if state.seen is not None else None)
        setattr(row, f"{side}_hash", state.hash)
        setattr(row, f"{side}_base", dict(state.base))
        setattr(row, f"{side}_modified", state.modified)
        setattr(row, f"{side}_gone", state.gone)
    row.held = link.held
    row.blocked = link.blocked
    if link.blocked is None:
        row.error = None
    row.state = _state_of(link, row)


def load_links(session: Session, scope: Scope) -> list[Link]:
    rows = session.scalars(
        select(ObjectLink).where(
            ObjectLink.user_id == scope.user_id, ObjectLink.domain == scope.domain
        )
    )
    return [link_of(row) for row in rows]


# --- a run ----------------------------------------------------------------------------------


def read_cursors(state_id: int) -> dict[Side, str | None]:
    with session_scope() as s:
        state = s.get(SyncState, state_id)
        if state is None:
            return {MAILBOX: None, CRM: None}
        return {MAILBOX: state.updated_token, CRM: state.crm_since}


def store_cursors(lease: Lease, cursors: dict[Side, str | None]) -> None:
    with session_scope() as s:
        lease.fence(s)
        state = s.get(SyncState, lease.state_id)
        assert state is not None
        state.updated_token = cursors[MAILBOX]
        state.crm_since = cursors[CRM]


def reset_cursors(lease: Lease) -> None:
    """Forget both cursors: the next run starts with a full listing (links make it echo-free)."""
    store_cursors(lease, {MAILBOX: None, CRM: None})


def reopen_waiting(lease: Lease, scope: Scope, link_ids: Sequence[int]) -> int:
    """Forget links that only wait (one side, nothing ever written: a record sent to review)
    and reset the cursors, so the next plan sees those records as new again (e.g. after a
    person decided the review). Returns how many were forgotten."""
    if not link_ids:
        return 0
    with session_scope() as s:
        lease.fence(s)
        gone = s.execute(
            delete(ObjectLink).where(
                ObjectLink.id.in_(list(link_ids)),
                ObjectLink.user_id == scope.user_id,
                ObjectLink.domain == scope.domain,
                ObjectLink.blocked.is_not(None),
                (ObjectLink.mailbox_id.is_(None)) | (ObjectLink.crm_id.is_(None)),
            )
        ).rowcount
    if gone:
        reset_cursors(lease)
    return gone


class Engine:
    """Executes plans for one scope under one lease. `identity`: fields that identify a record
    for pairing (see `twoway.plan`)."""

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
            links = load_links(s, self.scope)
        return plan(links, changes, self.settings, self.identity, self.pairer)

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
            pending = [(link_of(r), r.intent_side, r.intent_key) for r in rows]
        found_n = 0
        for link, side, key in pending:
            if side not in SIDES or link.side(side).id is not None or key is None:
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
        if the_plan.held:
            for side, n in the_plan.held.items():
                log.warning(
                    "%s sync for user %s: %d deletions in the %s held for review",
                    self.scope.domain,
                    self.scope.user_id,
                    n,
                    side,
                )
        return result

    def _save(self, link: Link, **extra: Any) -> Link:
        """Store `link` (a new row when it has no key), fenced; returns it with its key."""
        with session_scope() as s:
            self.lease.fence(s)
            row = s.get(ObjectLink, link.key) if link.key is not None else None
            if row is None:
                row = ObjectLink(
                    org_id=self.scope.org_id, user_id=self.scope.user_id, domain=self.scope.domain
                )
                s.add(row)
            _store(row, link)
            for name, value in extra.items():
                setattr(row, name, value)
            row.state = _state_of(link, row)
            s.flush()
            return replace(link, key=row.id)

    def _intent(self, step: Step) -> tuple[Link, str | None, bool]:
        """Record a create before it is sent. Returns the stored link, the intent key and
        whether that key was already on record (then the create may have happened)."""
        creates = [w for w in step.writes if w.op == "create"]
        if not creates:
            if step.link.key is None:
                saved = self._save(observed(step.link, step.current))
                return replace(step.link, key=saved.key), None, False
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
            return Failed("transient", str(exc))
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
            elif outcome.kind == "final":
                result.count("failed")
            elif outcome.kind == "held":
                result.count("held")
            else:
                result.count("deferred")
                result.deferred += 1
        settled = replace(settle(step, outcomes), key=link.key)
        extra: dict[str, Any] = {}
        creates = [i for i, w in enumerate(step.writes) if w.op == "create"]
        if not creates or any(not isinstance(outcomes[i], Failed) for i in creates):
            extra.update(intent_key=None, intent_side=None)
        final = [
            o for o in outcomes.values() if isinstance(o, Failed) and o.kind in ("final", "held")
        ]
        if final:
            extra.update(error=final[0].reason[:2000], error_at=utcnow())
        if step.kind == "review":
            extra.update(error=step.reason[:2000], error_at=utcnow())
            result.count("review")
        if step.conflicts:
            extra["conflict"] = {
                "fields": list(step.conflicts),
                "lost": {side: dict(values) for side, values in step.lost.items()},
                "policy": self.settings.conflict,
                "at": utcnow().isoformat(),
            }
            result.count("conflicts")
        if step.kind == "hold":
            result.count("held")
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
            links = [link_of(row) for row in rows]
        result = Result(Plan((), {MAILBOX: None, CRM: None}))
        for link in links:
            assert link.held is not None
            current = {
                link.held: link.side(link.held).record(),
                (CRM if link.held == MAILBOX else MAILBOX): GONE,
            }
            write = Write("delete", link.held)
            step = Step("delete", link, current, (write,), "deletion released on review")
            self._step(step, result, again=False)
        return result


def prune_tombstones(scope: Scope, older_than: timedelta = timedelta(days=TOMBSTONE_DAYS)) -> int:
    """Tombstones absorb late deletion reports and stale replays; after a month they go."""
    with session_scope() as s:
        return s.execute(
            delete(ObjectLink).where(
                ObjectLink.user_id == scope.user_id,
                ObjectLink.domain == scope.domain,
                ObjectLink.state == "deleted",
                ObjectLink.updated_at < utcnow() - older_than,
            )
        ).rowcount


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
    deferred, so the caller retries later (everything done is kept)."""
    engine = Engine(adapter, scope, settings, lease, identity, on_progress, pairer)
    if settings.direction == "off":
        return Result(Plan((), {MAILBOX: None, CRM: None}))
    if not review:
        with session_scope() as s:
            review = review_mode.in_review(s, scope.user_id)  # the user or org is in review
    cursors = read_cursors(lease.state_id)
    changes = {side: adapter.changes(side, cursors[side]) for side in SIDES}
    engine.seen = sum(len(c.records) + len(c.deleted) for c in changes.values())
    if not review:
        engine.resolve_intents()
        held.apply_decisions(engine)  # people's decisions on held deletions, before planning
    the_plan = engine.plan(changes)
    log.info("%s sync for user %s: %s", scope.domain, scope.user_id, the_plan.describe()["counts"])
    if review:
        # Recorded, not executed; the cursors stay put so the live run sees the same changes.
        review_mode.record(
            scope.user_id, scope.domain, review_mode.plan_report(the_plan.describe())
        )
        return Result(the_plan)
    result = engine.execute(the_plan)
    store_cursors(lease, dict(the_plan.cursors))
    prune_tombstones(scope)
    if count is not None:
        for key, n in result.counters.items():
            count(key, n)
    if result.deferred:
        raise TransientError(
            f"{result.deferred} {scope.domain} writes deferred",
            retry_after=engine.retry_after or None,
        )
    return result
