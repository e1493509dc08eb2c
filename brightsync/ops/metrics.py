"""Prometheus metrics that every process adds to: counters kept in Redis (or the database).

Work increments counters as it happens (`inc`, `observe`); each process buffers its increments
for a moment and adds them to the shared store in one round trip, so the web process's
`GET /metrics` shows what every gunicorn and Celery process did, on any machine. A scrape reads
the store (one hash, or one small table) plus a few cheap gauges; it never scans the work tables.

Metrics never break work: a store that is down keeps the increments buffered for the next try.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from brightsync.ops import gauges

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # counter | histogram | gauge
    help: str


# Every metric the product exports, named brightsync_*; HELP and TYPE lines come from here.
METRICS = {
    m.name: m
    for m in [
        Metric("brightsync_webhooks_received_total", "counter", "Accepted webhooks by outcome"),
        Metric("brightsync_webhooks_rejected_total", "counter", "Refused webhooks by reason"),
        Metric("brightsync_sync_runs_total", "counter", "Sync runs by service and outcome"),
        Metric("brightsync_sync_run_seconds", "histogram", "Sync run durations by service"),
        Metric(
            "brightsync_records_total",
            "counter",
            "Records handled by sync runs: synced, skipped, cached or failed, with the reason",
        ),
        Metric("brightsync_api_requests_total", "counter", "Requests to Aurinko and each CRM"),
        Metric(
            "brightsync_api_errors_total",
            "counter",
            "Failed requests to Aurinko and each CRM, by status or connection error",
        ),
        Metric("brightsync_lease_takeovers_total", "counter", "Expired run leases taken over"),
        Metric("brightsync_queue_depth", "gauge", "Messages waiting in each Celery queue"),
        Metric("brightsync_unmatched_items", "gauge", "Items in the sync cache, by kind"),
        Metric("brightsync_sync_states", "gauge", "Sync states by service and run state"),
        Metric("brightsync_mailboxes_needing_reauth", "gauge", "Mailboxes whose token is dead"),
        Metric("brightsync_paused", "gauge", "Paused users and paused services"),
    ]
}

DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0, 1800.0)
FLUSH_EVERY = 2.0  # seconds a process may hold increments before adding them to the store
MAX_BUFFERED = 5000  # distinct samples; beyond that new ones are dropped (store long down)


def render_labels(labels: dict[str, Any] | None) -> str:
    """`k="v",…` sorted by key, escaped as the exposition format wants."""
    if not labels:
        return ""
    parts = []
    for key in sorted(labels):
        value = str(labels[key]).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        parts.append(f'{key}="{value}"')
    return ",".join(parts)


class Store(Protocol):
    def add(self, samples: dict[tuple[str, str], float]) -> None: ...

    def read(self) -> dict[tuple[str, str], float]: ...


class RedisStore:
    KEY = "brightsync:metrics"
    SEP = "\x1f"

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)

    def add(self, samples: dict[tuple[str, str], float]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for (name, labels), value in samples.items():
            pipe.hincrbyfloat(self.KEY, name + self.SEP + labels, value)
        pipe.execute()

    def read(self) -> dict[tuple[str, str], float]:
        out = {}
        for field, value in self.redis.hgetall(self.KEY).items():
            name, _, labels = field.decode().partition(self.SEP)
            out[(name, labels)] = float(value)
        return out


class DatabaseStore:
    """The embedded setup's store: one upsert per sample per flush, one small table read."""

    def add(self, samples: dict[tuple[str, str], float]) -> None:
        from brightsync.db import dialect_insert, session_scope
        from brightsync.models import MetricCounter

        with session_scope() as s:
            insert = dialect_insert(s)
            for (name, labels), value in sorted(samples.items()):
                stmt = insert(MetricCounter).values(name=name, labels=labels, value=value)
                s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["name", "labels"],
                        set_={"value": MetricCounter.value + stmt.excluded.value},
                    )
                )

    def read(self) -> dict[tuple[str, str], float]:
        from sqlalchemy import select

        from brightsync.db import session_scope
        from brightsync.models import MetricCounter

        with session_scope() as s:
            rows = s.execute(select(MetricCounter.name, MetricCounter.labels, MetricCounter.value))
            return {(n, lb): float(v) for n, lb, v in rows}


_state_lock = threading.Lock()
_buffer: dict[tuple[str, str], float] = {}
_buffer_pid = os.getpid()
_last_flush = time.monotonic()
_store: Store | None = None
_store_key: str | None = None


def store() -> Store:
    global _store, _store_key
    from brightsync.config import get_settings

    settings = get_settings()
    key = settings.redis_url or settings.database_url
    if _store is None or _store_key != key:
        _store = RedisStore(settings.redis_url) if settings.redis_url else DatabaseStore()
        _store_key = key
    return _store


def _take_buffer() -> dict[tuple[str, str], float]:
    global _buffer, _buffer_pid, _last_flush
    with _state_lock:
        if _buffer_pid != os.getpid():
            # A forked child inherits its parent's unflushed increments: they are not its own.
            _buffer, _buffer_pid = {}, os.getpid()
        taken, _buffer = _buffer, {}
        _last_flush = time.monotonic()
    return taken


def _put_back(samples: dict[tuple[str, str], float]) -> None:
    with _state_lock:
        for key, value in samples.items():
            if key in _buffer or len(_buffer) < MAX_BUFFERED:
                _buffer[key] = _buffer.get(key, 0.0) + value


def flush() -> None:
    """Add this process's buffered increments to the shared store (never raises)."""
    samples = _take_buffer()
    if not samples:
        return
    try:
        store().add(samples)
    except Exception as exc:  # noqa: BLE001 - metrics must not break the work they count
        log.debug("metrics flush failed, kept for the next one: %s", exc)
        _put_back(samples)


def discard_pending() -> None:
    """Drop this process's unflushed increments (the store they were counted for is gone)."""
    global _buffer
    with _state_lock:
        _buffer = {}


_timer: threading.Timer | None = None
_timer_pid: int | None = None


def flush_soon() -> None:
    """Flush when due, else make sure this process flushes within FLUSH_EVERY seconds.

    For the web process: a worker that serves nothing more still hands its counts over (a
    timer, and at exit), without a round trip to the store on every request.
    """
    global _timer, _timer_pid
    with _state_lock:
        due = time.monotonic() - _last_flush >= FLUSH_EVERY
        armed = _timer_pid == os.getpid() and _timer is not None and _timer.is_alive()
        if not due and not armed:
            if _timer_pid != os.getpid():
                atexit.register(flush)
            _timer = threading.Timer(FLUSH_EVERY, flush)
            _timer.daemon = True
            _timer.start()
            _timer_pid = os.getpid()
    if due:
        flush()


def inc(name: str, labels: dict[str, Any] | None = None, value: float = 1.0) -> None:
    global _buffer, _buffer_pid
    key = (name, render_labels(labels))
    with _state_lock:
        if _buffer_pid != os.getpid():
            _buffer, _buffer_pid = {}, os.getpid()
        if key in _buffer or len(_buffer) < MAX_BUFFERED:
            _buffer[key] = _buffer.get(key, 0.0) + value
        due = time.monotonic() - _last_flush >= FLUSH_EVERY
    if due:
        flush()


def observe(name: str, labels: dict[str, Any] | None, value: float) -> None:
    """One histogram observation (cumulative buckets, _sum and _count)."""
    labels = dict(labels or {})
    for bound in DURATION_BUCKETS:
        # Every bucket exists (0 below the value), as Prometheus's quantiles expect.
        inc(name + "_bucket", {**labels, "le": _num(bound)}, 1.0 if value <= bound else 0.0)
    inc(name + "_bucket", {**labels, "le": "+Inf"})
    inc(name + "_sum", labels, value)
    inc(name + "_count", labels)


def _num(value: float) -> str:
    # As prometheus_client writes them: 1.0, 0.5, 1e+16.
    return repr(float(value))


# --- what the rest of the product calls -------------------------------------------------------


def lease_takeover(service: str) -> None:
    """A run took over a lease its previous holder let expire (the scheduler calls this)."""
    inc("brightsync_lease_takeovers_total", {"service": service})


def record_classification(counter: str) -> tuple[str, str] | None:
    """(outcome, reason) of a run counter name, or None for counters that are not records.

    Domains count with names like "logged", "skipped_bulk", "unmatched": this maps them onto
    the four outcomes an operator charts.
    """
    if counter in ("logged", "found_existing", "created", "updated", "deleted", "synced"):
        return "synced", counter
    if counter.startswith("skipped_"):
        return "skipped", counter.removeprefix("skipped_")
    if counter in ("deduplicated", "unchanged"):
        return "skipped", counter
    if counter in ("unmatched", "cached"):
        return "cached", "no matching contact"
    if counter in ("failed", "errors"):
        return "failed", counter
    return None


def record_run(service: str, outcome: str, seconds: float, counters: dict[str, int]) -> None:
    inc("brightsync_sync_runs_total", {"service": service, "outcome": outcome})
    observe("brightsync_sync_run_seconds", {"service": service}, seconds)
    record_outcomes(service, counters)


def record_outcomes(service: str, counters: dict[str, int]) -> None:
    """Count the records a run (or a task finishing records later) reports."""
    for counter, n in counters.items():
        kind = record_classification(counter)
        if kind is not None and n:
            inc(
                "brightsync_records_total",
                {"service": service, "outcome": kind[0], "reason": kind[1]},
                n,
            )


def api_call(api: str, host: str, status: int | None) -> None:
    labels = {"api": api, "host": host}
    status_class = "connection_error" if status is None else f"{status // 100}xx"
    inc("brightsync_api_requests_total", {**labels, "status": status_class})
    if status is None or status >= 400:
        reason = "connection_error" if status is None else str(status)
        inc("brightsync_api_errors_total", {**labels, "reason": reason})


# --- the scrape -------------------------------------------------------------------------------


def reset_process_state() -> None:
    """Forget the store, the cached gauges and unflushed increments: the settings changed.

    (brightsync.process flushes the increments to the store they were counted for first.)

    Gauges counted in the previous database and increments made under the previous settings
    belong to that setup; carried over, they would show up in the new one's scrape.
    """
    global _store, _store_key
    discard_pending()
    with _state_lock:
        _store, _store_key = None, None
    gauges.reset_gauge_cache()


def _family(sample_name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample_name.removesuffix(suffix)
        if base != sample_name and METRICS.get(base, Metric("", "", "")).kind == "histogram":
            return base
    return sample_name


def exposition(samples: Iterable[tuple[str, str, float]]) -> str:
    """Prometheus text format (0.0.4), grouped by family with HELP and TYPE lines."""
    # Every metric is announced, with or without samples yet, so scrapers see the catalogue.
    families: dict[str, list[tuple[str, str, float]]] = {name: [] for name in METRICS}
    for sample in samples:
        families.setdefault(_family(sample[0]), []).append(sample)
    lines = []
    for family in sorted(families):
        meta = METRICS.get(family)
        if meta is not None:
            lines.append(f"# HELP {family} {meta.help}")
            lines.append(f"# TYPE {family} {meta.kind}")
        for name, labels, value in sorted(families[family], key=_sample_order):
            shown = f"{name}{{{labels}}}" if labels else name
            lines.append(f"{shown} {_num(value)}")
    return "\n".join(lines) + "\n"


def _sample_order(sample: tuple[str, str, float]) -> tuple[str, str, float]:
    name, labels, _ = sample
    # Histogram buckets in increasing `le`, +Inf last, as Prometheus expects.
    if 'le="' in labels:
        le = labels.split('le="', 1)[1].split('"', 1)[0]
        rest = labels.replace(f'le="{le}"', "")
        return (name, rest, float("inf") if le == "+Inf" else float(le))
    return (name, labels, 0.0)


def scrape() -> str:
    flush()
    samples = [(name, labels, value) for (name, labels), value in store().read().items()]
    for source in (gauges.queue_depths, gauges.database_gauges):
        try:
            samples.extend((name, render_labels(labels), value) for name, labels, value in source())
        except Exception as exc:  # noqa: BLE001 - one missing gauge must not hide the rest
            log.warning("metrics gauge %s unavailable: %s", source.__name__, exc)
    return exposition(samples)
