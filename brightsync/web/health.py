"""GET /healthz (database and broker) and GET /metrics (Prometheus text, brightsync_*)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select, text

from brightsync.db import session_scope
from brightsync.models import EmailClaim, Notification, SyncState, UnmatchedItem, User

bp = Blueprint("health", __name__)


def _broker_ok() -> tuple[bool, str]:
    celery = current_app.extensions["celery"]
    try:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        return True, "ok"
    except Exception as exc:  # any failure means "down" to a load balancer
        return False, type(exc).__name__


@bp.get("/healthz")
def healthz() -> Any:
    try:
        with session_scope() as s:
            s.execute(text("SELECT 1"))
        db = (True, "ok")
    except Exception as exc:
        db = (False, type(exc).__name__)
    broker = _broker_ok()
    ok = db[0] and broker[0]
    body = {"status": "ok" if ok else "degraded", "database": db[1], "broker": broker[1]}
    return jsonify(body), 200 if ok else 503


# name, help, labels, query: each row of the query is (*label values, value).
_GAUGES = [
    (
        "brightsync_notifications",
        "Webhook notifications by outcome",
        ["outcome"],
        select(Notification.outcome, func.count()).group_by(Notification.outcome),
    ),
    (
        "brightsync_sync_states",
        "Sync states by service and state",
        ["service", "state"],
        select(SyncState.service, SyncState.state, func.count()).group_by(
            SyncState.service, SyncState.state
        ),
    ),
    (
        "brightsync_sync_runs",
        "Completed sync runs by service",
        ["service"],
        select(SyncState.service, func.coalesce(func.sum(SyncState.runs), 0)).group_by(
            SyncState.service
        ),
    ),
    (
        "brightsync_emails",
        "Email decisions by state",
        ["state"],
        select(EmailClaim.state, func.count()).group_by(EmailClaim.state),
    ),
    (
        "brightsync_unmatched_items",
        "Items in the sync cache",
        ["kind"],
        select(UnmatchedItem.kind, func.count()).group_by(UnmatchedItem.kind),
    ),
    (
        "brightsync_mailboxes_needing_reauth",
        "Mailboxes whose token is dead",
        [],
        select(func.count()).select_from(User).where(User.mailbox_state != "ok"),
    ),
]


class _StateCollector:
    """Reads the system of record at scrape time, so every web process reports the same."""

    def collect(self) -> Any:
        with session_scope() as s:
            for name, help_text, labels, query in _GAUGES:
                gauge = GaugeMetricFamily(name, help_text, labels=labels)
                for row in s.execute(query):
                    gauge.add_metric([str(v) for v in row[:-1]], row[-1] or 0)
                yield gauge


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry()
    registry.register(_StateCollector())
    return Response(generate_latest(registry), content_type="text/plain; version=0.0.4")
