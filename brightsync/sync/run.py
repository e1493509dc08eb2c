"""One run of one service for one user: the lease, the heartbeat, pause and review checked
once before it starts, and every way out of it (finished, lost lease, dead token, out of time).

The handlers come from the caller (`brightsync.domains` holds them per service), so this module
imports no domain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import ColumnElement, update

from brightsync.clients.aurinko import TokenDeadError
from brightsync.clients.http import ApiError
from brightsync.db import session_scope
from brightsync.models import SyncState, User, utcnow
from brightsync.ops import metrics
from brightsync.ops.actions import is_paused
from brightsync.review.mode import in_review
from brightsync.subscriptions import aurinko_for
from brightsync.sync import leases, scheduler
from brightsync.sync.creates import BUSY_AGAIN, WritesWaiting
from brightsync.sync.queue import publish_intake

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What a domain's sync function gets besides the user id.

    `token` is the run's fencing token: rows the run works on (e.g. email claims) are leased
    to it too, and `hold()` puts them under the run's heartbeat. Every change to the run's own
    state goes through `renew()` / `checkpoint()`, which raise LeaseLost once another run owns
    the mailbox. `share_work`: other worker processes take tasks, so a run may hand part of
    its work to them (a run in the CLI or a test finishes everything itself).
    `review`: the user or its organisation is in review mode, decided once before the run
    started: the run records what it would do and writes nothing.
    """

    state_id: int
    token: str
    review: bool = False
    counters: dict[str, int] = field(default_factory=dict)
    heartbeat: leases.Heartbeat | None = None
    share_work: bool = False

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def renew(self, progress: dict[str, int] | None = None) -> None:
        """Long runs call this between pages: keeps the lease and shows how far they got."""
        if self.heartbeat is not None:
            self.heartbeat.check()
        scheduler.renew(self.state_id, self.token, progress)

    def checkpoint(self, **values: Any) -> None:
        """Store sync_state columns (delta tokens, resume position) while the lease is ours."""
        scheduler.checkpoint(self.state_id, self.token, **values)

    def hold(self, model: Any, *where: ColumnElement[bool]) -> None:
        """Keep the leases this run holds on `model` rows alive as long as the run's."""
        if self.heartbeat is not None:
            self.heartbeat.renewals.append(lambda: leases.renew(model, self.token, where=where))


# A domain's sync of one user: (user id, the run) -> None; it counts on `run.count`.
Handler = Callable[[int, RunContext], None]


class Handlers(Protocol):
    """What `run_once` needs of a domain (an entry of `brightsync.domains`)."""

    @property
    def run(self) -> Handler: ...

    @property
    def review(self) -> Handler | None:
        """What runs instead in review mode (None: `run` itself honours `RunContext.review`)."""
        ...


def mark_reauth(user_id: int, message: str) -> None:
    """The mailbox needs re-authorisation — unless the token was replaced meanwhile.

    A run that began before a reconnect fails with the old token after it: marking then
    would stop the user for good with a working token. So the stored token is asked once
    (`GET /v1/account`'s tokenStatus, a rare path), and the mark is kept only for that very token.
    """
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            return
        token_enc = user.access_token_enc
        client = aurinko_for(user)
    try:
        # A dead token still reads its account, with tokenStatus saying so (aurinko-api.md).
        live = client.get_account().get("tokenStatus") == "active"
    except TokenDeadError:
        live = False  # the stored token is the dead one
    except ApiError:  # Aurinko cannot tell now: the run's verdict stands
        log.info("could not confirm user %s's dead token; marking it", user_id)
        live = False
    if live:
        log.info("user %s's token was replaced during the run; not marking it dead", user_id)
        return
    with session_scope() as s:
        s.execute(
            update(User)
            .where(User.id == user_id, User.access_token_enc == token_enc)
            .values(mailbox_state="reauth_required", mailbox_error=message[:1000])
        )


def run_once(
    user_id: int,
    service: str,
    handlers: Handlers | None,
    *,
    requested_only: bool = False,
    share_work: bool = False,
) -> dict[str, Any]:
    """Run one sync in this process if no other run holds the lease (CLI and tasks use it).

    `handlers`: the service's domain (None: a service this version cannot run). Whether the
    run may start (paused?) and in which mode (review?) is decided here, once, and carried on
    the RunContext.

    `requested_only` (tasks): run only if a run is still pending. A task that finds the lease
    busy ends at once: the holder hands over to the pending run when it finishes.
    `share_work` (tasks): the run may publish part of its work for other workers.
    """
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:  # removed: a task that arrives later does nothing
            return {"status": "no such user"}
        if service not in (user.services or []):
            # Turned off: a run still queued for it stops here; its cursors stay for a return.
            scheduler.drop_pending(s, user_id, service)
            return {"status": "skipped", "reason": f"{service} is turned off for this user"}
        state = scheduler.ensure_state(s, user_id, service)
        state_id = state.id
        # A lease left behind by a run that died: taking it over below is worth counting.
        lapsed = state.lease_until is not None and state.lease_until < utcnow()
        reauth = user.mailbox_state == "reauth_required"
        paused = not reauth and is_paused(s, user_id, service)
        review = not reauth and in_review(s, user_id)
    # Past this point no transaction of this run is open: clear_pending, try_start and the
    # handler each take their own (a second one opened inside the first waits on SQLite for
    # the write lock its own thread holds: 60 s, then "database is locked").
    if reauth:  # the token is dead: nothing runs until the user reconnects
        scheduler.clear_pending(state_id)
        return {"status": "skipped", "reason": "mailbox needs re-authorisation"}
    if paused:  # an operator paused the user or this service: no run starts until resumed
        scheduler.clear_pending(state_id)
        return {"status": "skipped", "reason": "paused"}
    token = scheduler.try_start(state_id, requested_only=requested_only)
    if token is None:
        return {"status": "busy", "state_id": state_id}
    if lapsed:
        metrics.lease_takeover(service)
    if handlers is None:
        scheduler.finish(state_id, token, error=f"{service} sync is not available in this version")
        return {"status": "unsupported"}
    handler = (review and handlers.review) or handlers.run
    ctx = RunContext(state_id=state_id, token=token, share_work=share_work, review=review)
    log.info("sync %s for user %s started", service, user_id)
    heartbeat = leases.Heartbeat([lambda: leases.renew(SyncState, token, row_id=state_id)])
    ctx.heartbeat = heartbeat
    try:
        with heartbeat:
            handler(user_id, ctx)
    except leases.LeaseLost:
        log.warning("sync %s for user %s lost its lease; stopping", service, user_id)
        return {"status": "lease lost"}
    except TokenDeadError as exc:
        # The run's error first, then the mailbox state: whoever sees the state sees why.
        scheduler.finish(
            state_id, token, error=f"mailbox needs re-authorisation: {exc}", counters=ctx.counters
        )
        mark_reauth(user_id, str(exc))
        return {"status": "reauth_required"}
    except WritesWaiting as exc:
        # Not a failure: the rest is done, and the waiting writes go in a follow-up once the
        # other create has ended. Requested before the run ends, so it shows queued, not idle.
        due = utcnow() + timedelta(seconds=exc.retry_after or BUSY_AGAIN)
        with session_scope() as s:
            scheduler.request_run(s, user_id, service, due=due)
        finish_run(user_id, service, state_id, token, ctx.counters)
        raise
    except SoftTimeLimitExceeded:
        # Out of time: the run checkpointed as it went; a follow-up continues from there.
        with session_scope() as s:
            scheduler.request_run(s, user_id, service)
        finish_run(user_id, service, state_id, token, ctx.counters)
        return {"status": "continued later", "counters": ctx.counters}
    except Exception as exc:
        try:
            finish_run(
                user_id,
                service,
                state_id,
                token,
                ctx.counters,
                error=f"{type(exc).__name__}: {exc}",
            )
        except Exception:  # noqa: BLE001 - the database is away: the lease lapses instead
            log.warning("sync %s for user %s could not record its end", service, user_id)
        raise
    finish_run(user_id, service, state_id, token, ctx.counters)
    log.info("sync %s for user %s finished: %s", service, user_id, ctx.counters)
    return {"status": "ok", "counters": ctx.counters}


def finish_run(
    user_id: int,
    service: str,
    state_id: int,
    token: str,
    counters: dict[str, int],
    error: str | None = None,
) -> None:
    """Release the lease; hand over to a pending follow-up at once (no fixed countdown)."""
    if scheduler.finish(state_id, token, error=error, counters=counters):
        try:
            publish_intake(user_id, service)
        except Exception:  # noqa: BLE001 - broker down: the sweeper republishes it
            log.warning("hand-over of %s sync for user %s not published", service, user_id)
