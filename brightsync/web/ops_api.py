"""The admin API's operations part under /api/v1: status, actions, "why", the run series."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from brightsync.db import session_scope
from brightsync.domains import CACHE_KINDS, EXPLAINERS, ORG_PANELS
from brightsync.models import Organisation
from brightsync.ops import actions, runlog, status, why
from brightsync.web import schemas
from brightsync.web.common import error_answer, int_arg, load_body, require_admin

bp = Blueprint("ops_api", __name__, url_prefix="/api/v1")


@bp.errorhandler(actions.ActionError)
def _refused(exc: actions.ActionError) -> Any:
    return error_answer(exc.message, exc.status)


@bp.get("/status")
@require_admin
def all_status() -> Any:
    with session_scope() as s:
        return jsonify(orgs=status.overview(s))


@bp.get("/orgs/<int:org_id>/status")
@require_admin
def org_status(org_id: int) -> Any:
    limit = int_arg("cacheLimit", 20, 0, 500)
    with session_scope() as s:
        org = s.get(Organisation, org_id)
        if org is None:
            return error_answer("organisation not found", 404)
        return jsonify(status.org_summary(s, org, ORG_PANELS, cache_limit=limit))


@bp.post("/users/<int:user_id>/pause")
@require_admin
def pause(user_id: int) -> Any:
    data = load_body(schemas.SyncRequest())
    return jsonify(actions.set_paused(user_id, data["service"], True))


@bp.post("/users/<int:user_id>/resume")
@require_admin
def resume(user_id: int) -> Any:
    data = load_body(schemas.SyncRequest())
    return jsonify(actions.set_paused(user_id, data["service"], False))


@bp.post("/users/<int:user_id>/resync")
@require_admin
def resync(user_id: int) -> Any:
    data = load_body(schemas.SyncRequest())
    return jsonify(actions.resync(user_id, data["service"])), 202


@bp.post("/orgs/<int:org_id>/unmatched/<int:item_id>/retry")
@require_admin
def retry_item(org_id: int, item_id: int) -> Any:
    return jsonify(actions.retry_cache_item(org_id, item_id, CACHE_KINDS))


@bp.get("/orgs/<int:org_id>/why/<kind>")
@require_admin
def explain(org_id: int, kind: str) -> Any:
    key = request.args.get("key", "").strip()
    if kind not in EXPLAINERS:
        return error_answer(f"no explanations for {kind!r}", 404, kinds=sorted(EXPLAINERS))
    if not key:
        return error_answer(f"query parameter key is required ({EXPLAINERS[kind].key_hint})", 400)
    with session_scope() as s:
        if s.get(Organisation, org_id) is None:
            return error_answer("organisation not found", 404)
        found = why.explain(s, EXPLAINERS, org_id, kind, key)
    if found is None:
        return error_answer(f"nothing is known of that {kind} in this organisation", 404)
    return jsonify(found)


@bp.get("/orgs/<int:org_id>/decisions")
@require_admin
def decisions(org_id: int) -> Any:
    limit = int_arg("limit", 20, 1, 200)
    with session_scope() as s:
        if s.get(Organisation, org_id) is None:
            return error_answer("organisation not found", 404)
        return jsonify(items=status.recent_decisions(s, org_id, limit))


@bp.get("/runs")
@require_admin
def runs_all() -> Any:
    return _runs(None)


@bp.get("/orgs/<int:org_id>/runs")
@require_admin
def runs_org(org_id: int) -> Any:
    with session_scope() as s:
        if s.get(Organisation, org_id) is None:
            return error_answer("organisation not found", 404)
    return _runs(org_id)


def _runs(org_id: int | None) -> Any:
    hours = int_arg("hours", 24, 1, 24 * 30)
    points = int_arg("points", 24, 1, 500)
    series = runlog.series(org_id, hours=hours, points=points)
    return jsonify(
        hours=hours,
        points=[{**p.__dict__, "start": p.start.isoformat()} for p in series],
    )
