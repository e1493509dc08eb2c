"""Operations records: the run-outcome time series and the metric counters of the embedded setup."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from brightsync.models.base import Base


class RunStat(Base):
    """Run outcomes summed per five-minute bucket, organisation and service.

    Written with one upsert as each run ends, so the dashboard's charts read a few hundred rows
    for a day instead of anything proportional to the work done.
    """

    __tablename__ = "run_stat"
    __table_args__ = (Index("ix_run_stat_bucket", "bucket"),)

    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(20), primary_key=True)
    runs: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    synced: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    cached: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class MetricCounter(Base):
    """A Prometheus sample (name + rendered labels) kept in the database when there is no Redis."""

    __tablename__ = "metric_counter"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    labels: Mapped[str] = mapped_column(String(500), primary_key=True)
    value: Mapped[float] = mapped_column(Float, default=0.0)
