"""Short leases with a heartbeat and a fencing token: the one mechanism every domain uses.

A row that a worker works on (a sync run's `sync_state`, an email claim, a calendar link…)
carries two columns, `lease_owner` (an opaque token, one per task execution) and
`lease_until`. The protocol:

- `acquire()` takes the lease where it is free, lapsed or already ours (one conditional UPDATE).
- While it works, the holder keeps it alive: a `Heartbeat` thread renews every
  a third of the lease, and long loops may call `renew()` between steps too.
- Every change the holder makes is `fenced_update()`: `UPDATE … WHERE lease_owner = :me`. When
  zero rows match, the lease went to someone else (this worker stalled past the expiry) and
  `LeaseLost` is raised: the stale worker stops and never overwrites the newer owner's work.
- `release()` clears the lease with a last fenced change.

A dead worker simply stops renewing; its lease lapses within one lease and the sweeper
(`sync.sweeps.republish_lost`, beat's `brightsync.maintenance.sweep_runs`) republishes the
work, so recovery takes about a minute.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.orm import Session

from brightsync.config import get_settings
from brightsync.db import session_scope
from brightsync.models import utcnow

log = logging.getLogger(__name__)


def lease_seconds() -> float:
    """BRIGHTSYNC_LEASE_SECONDS (60): long enough to ride out a slow request or a database
    hiccup (three heartbeats fit in one lease); short enough that a killed worker's work
    resumes in about a minute."""
    return float(get_settings().lease_seconds)


class LeaseLost(Exception):
    """The lease this worker held now belongs to someone else (or to no one): stop."""


def new_owner() -> str:
    """A fresh fencing token for one task execution."""
    return uuid.uuid4().hex


def expiry(now: datetime | None = None, seconds: float | None = None) -> datetime:
    return (now or utcnow()) + timedelta(seconds=seconds or lease_seconds())


def free(model: Any, now: datetime, owner: str | None = None) -> ColumnElement[bool]:
    """Rows whose lease anyone (or `owner`, re-entering) may take now."""
    cond = or_(model.lease_until.is_(None), model.lease_until < now)
    if owner is not None:
        cond = or_(cond, model.lease_owner == owner)
    return cond


def lapsed(model: Any, now: datetime) -> ColumnElement[bool]:
    """Rows holding a lease that ran out (the sweeper's filter; index lease_until)."""
    return and_(model.lease_until.is_not(None), model.lease_until < now)


def acquire(
    session: Session,
    model: Any,
    row_id: int,
    owner: str,
    *where: ColumnElement[bool],
    seconds: float | None = None,
    now: datetime | None = None,
    **values: Any,
) -> bool:
    """Take the lease of one row where it is free (or ours) and `where` holds; set `values`."""
    now = now or utcnow()
    result = session.execute(
        update(model)
        .where(model.id == row_id, free(model, now, owner), *where)
        .values(lease_owner=owner, lease_until=expiry(now, seconds), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def fenced_update(
    session: Session,
    model: Any,
    row_id: int,
    owner: str,
    *where: ColumnElement[bool],
    **values: Any,
) -> None:
    """Change a row this worker holds; LeaseLost if it no longer does."""
    result = session.execute(
        update(model)
        .where(model.id == row_id, model.lease_owner == owner, *where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LeaseLost(f"{model.__tablename__} {row_id} is no longer leased by this worker")


def release(
    session: Session,
    model: Any,
    row_id: int,
    owner: str,
    *where: ColumnElement[bool],
    **values: Any,
) -> None:
    """Last fenced change: clear the lease (and set `values`)."""
    fenced_update(
        session, model, row_id, owner, *where, lease_owner=None, lease_until=None, **values
    )


def renew(
    model: Any,
    owner: str,
    *,
    row_id: int | None = None,
    where: Iterable[ColumnElement[bool]] = (),
    seconds: float | None = None,
    **values: Any,
) -> int:
    """Extend the leases `owner` holds on `model` (one row, or all of them); rows renewed."""
    conds = [model.lease_owner == owner, *where]
    if row_id is not None:
        conds.append(model.id == row_id)
    with session_scope() as s:
        return s.execute(
            update(model)
            .where(*conds)
            .values(lease_until=expiry(seconds=seconds), **values)
            .execution_options(synchronize_session=False)
        ).rowcount


class Heartbeat:
    """Renews leases from a daemon thread while the task works.

    `renewals` are callables returning how many rows they renewed; the first one is the
    essential lease (e.g. the run): when it renews nothing the lease is lost, `lost` is set,
    and the worker's next `check()` raises LeaseLost. The others (e.g. claims held by the same
    owner), and all of them with `essential=False`, may legitimately renew zero rows.

        with Heartbeat([lambda: leases.renew(SyncState, me, row_id=state_id)]) as hb:
            for page in pages:
                hb.check()
                ...
    """

    def __init__(
        self,
        renewals: list[Callable[[], int]],
        interval: float | None = None,
        *,
        essential: bool = True,
    ) -> None:
        self.renewals = renewals
        self.essential = essential
        self.interval = interval or lease_seconds() / 3
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def beat(self) -> None:
        """Renew now (also what the thread does every `interval`)."""
        for i, renew_one in enumerate(self.renewals):
            try:
                renewed = renew_one()
            except Exception:  # noqa: BLE001 - a database blip: try again next beat
                log.warning("lease renewal failed; retrying at the next heartbeat", exc_info=True)
                continue
            if i == 0 and self.essential and renewed == 0:
                self.lost.set()

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost("the lease was lost while working")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()
            if self.lost.is_set():
                return
