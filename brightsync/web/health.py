"""GET /healthz (database and broker) and GET /metrics (Prometheus text, brightsync_*)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from brightsync.db import session_scope

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


@bp.get("/metrics")
def metrics() -> Response:
    # Counters kept as work happens plus a few cheap gauges: no scan of the work tables here.
    from brightsync.ops.metrics import scrape

    return Response(scrape(), content_type="text/plain; version=0.0.4; charset=utf-8")
