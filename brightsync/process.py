"""Process-level plumbing shared by `brightsync run`, the demo and the tests."""

from __future__ import annotations

import sys
from pathlib import Path


def reset_process_state() -> None:
    """Forget cached settings and everything built from them (after the environment changed)."""
    from brightsync import broker, coordination, crypto, db
    from brightsync.celery import reconfigure
    from brightsync.config import reset_settings
    from brightsync.ops import metrics

    # Counts still buffered belong to the deployment being left, never to the next one.
    metrics.flush()
    reset_settings()
    metrics.reset_process_state()  # what could not be flushed, the store, the gauges
    broker.reset_engines()
    db.reset_engine()
    coordination.reset_coordinator()
    crypto.reset_keys()
    reconfigure()


def worker_command(concurrency: int = 2, name: str | None = None) -> list[str]:
    """A Celery worker on every BrightSync queue, with task events on (for Flower)."""
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "brightsync",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        "-Q",
        "intake,sync,maintenance",
        "-E",
        "--without-gossip",
        "--without-mingle",
    ]
    return cmd + (["-n", f"{name}@%h"] if name else [])


def beat_command(schedule: Path) -> list[str]:
    """Celery beat keeping its schedule at `schedule`; its folder is made here, as beat only
    makes the file (and dies when the folder is missing)."""
    schedule.parent.mkdir(parents=True, exist_ok=True)
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "brightsync",
        "beat",
        "--loglevel=INFO",
        f"--schedule={schedule}",
    ]
