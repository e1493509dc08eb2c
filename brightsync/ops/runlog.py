"""The time series of run outcomes: one upsert per finished run, a few hundred rows per day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from brightsync.db import dialect_insert, session_scope
from brightsync.models import RunStat, User, utcnow
from brightsync.ops.metrics import record_classification

BUCKET = timedelta(minutes=5)


def bucket_of(when: datetime) -> datetime:
    """The start of the five-minute bucket `when` falls in."""
    seconds = int(BUCKET.total_seconds())
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=when.tzinfo)


def tally(counters: dict[str, int]) -> dict[str, int]:
    """Run counters summed into the chart's outcomes (synced, skipped, cached, failed)."""
    out = {"synced": 0, "skipped": 0, "cached": 0, "failed": 0}
    for name, n in counters.items():
        kind = record_classification(name)
        if kind is not None:
            out[kind[0]] += int(n)
    return out


def record(
    user_id: int,
    service: str,
    *,
    error: bool,
    seconds: float,
    counters: dict[str, int],
    now: datetime | None = None,
) -> None:
    """Add one finished run to its bucket (safe from any number of processes at once)."""
    now = now or utcnow()
    totals = tally(counters)
    with session_scope() as s:
        org_id = s.scalar(select(User.org_id).where(User.id == user_id))
        if org_id is None:
            return
        values: dict[str, Any] = {
            "runs": 1,
            "errors": 1 if error else 0,
            "seconds": float(seconds),
            **totals,
        }
        stmt = dialect_insert(s)(RunStat).values(
            bucket=bucket_of(now), org_id=org_id, service=service, **values
        )
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=["bucket", "org_id", "service"],
                set_={k: getattr(RunStat, k) + getattr(stmt.excluded, k) for k in values},
            )
        )


@dataclass(frozen=True)
class Point:
    start: datetime
    runs: int
    errors: int
    synced: int
    skipped: int
    cached: int
    failed: int


def series(
    org_id: int | None = None,
    *,
    hours: int = 24,
    points: int = 24,
    now: datetime | None = None,
) -> list[Point]:
    """`points` equal slices of the last `hours`, oldest first, for one organisation or all."""
    now = now or utcnow()
    start = bucket_of(now - timedelta(hours=hours)) + BUCKET
    step = (now - start) / points
    cols = ["runs", "errors", "synced", "skipped", "cached", "failed"]
    query = (
        select(RunStat.bucket, *[func.sum(getattr(RunStat, c)) for c in cols])
        .where(RunStat.bucket >= start)
        .group_by(RunStat.bucket)
    )
    if org_id is not None:
        query = query.where(RunStat.org_id == org_id)
    slots = [dict.fromkeys(cols, 0) for _ in range(points)]
    with session_scope() as s:
        for bucket, *sums in s.execute(query):
            index = min(points - 1, max(0, int((bucket - start) / step)))
            for col, value in zip(cols, sums, strict=True):
                slots[index][col] += int(value or 0)
    return [Point(start=start + step * i, **slot) for i, slot in enumerate(slots)]
