"""The admin API's review part under /api/v1: review mode, the pre-sync report, activation,
and held deletions (approve / reject)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from brightsync.db import session_scope
from brightsync.models import Organisation, User
from brightsync.review import held, mode
from brightsync.web import schemas
from brightsync.web.common import error_answer, int_arg, load_body, require_admin

bp = Blueprint("review_api", __name__, url_prefix="/api/v1")


@bp.errorhandler(mode.ModeError)
def _refused(exc: mode.ModeError) -> Any:
    return error_answer(str(exc), 409)


@bp.errorhandler(LookupError)
def _missing(exc: LookupError) -> Any:
    return error_answer(str(exc), 404)


def _org_mode(org_id: int) -> str:
    with session_scope() as s:
        org = s.get(Organisation, org_id)
        if org is None:
            raise LookupError("organisation not found")
        return org.mode


@bp.get("/orgs/<int:org_id>/review")
@require_admin
def org_report(org_id: int) -> Any:
    current = _org_mode(org_id)
    with session_scope() as s:
        return jsonify(mode=current, **mode.report_for(s, org_id=org_id))


@bp.get("/users/<int:user_id>/review")
@require_admin
def user_report(user_id: int) -> Any:
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            raise LookupError("user not found")
        current = "review" if mode.in_review(s, user_id) else "live"
        return jsonify(mode=current, **mode.report_for(s, user_id=user_id))


@bp.put("/orgs/<int:org_id>/mode")
@require_admin
def put_org_mode(org_id: int) -> Any:
    wanted = load_body(schemas.ModeRequest())["mode"]
    if wanted == "live":
        return jsonify(mode.activate(org_id=org_id))
    return jsonify(mode="review", users=mode.set_mode(mode="review", org_id=org_id))


@bp.put("/users/<int:user_id>/mode")
@require_admin
def put_user_mode(user_id: int) -> Any:
    wanted = load_body(schemas.ModeRequest())["mode"]
    if wanted == "live":
        return jsonify(mode.activate(user_id=user_id))
    return jsonify(mode="review", users=mode.set_mode(mode="review", user_id=user_id))


@bp.post("/orgs/<int:org_id>/activate")
@require_admin
def activate_org(org_id: int) -> Any:
    return jsonify(mode.activate(org_id=org_id))


@bp.post("/users/<int:user_id>/activate")
@require_admin
def activate_user(user_id: int) -> Any:
    return jsonify(mode.activate(user_id=user_id))


@bp.get("/orgs/<int:org_id>/held-deletions")
@require_admin
def list_held(org_id: int) -> Any:
    limit = int_arg("limit", 100, 1, 500)
    offset = int_arg("offset", 0, 0, 10**9)
    _org_mode(org_id)
    with session_scope() as s:
        items, total = held.list_held(s, org_id, limit, offset)
    return jsonify(items=items, total=total)


@bp.post("/orgs/<int:org_id>/held-deletions/<any(approve, reject):action>")
@require_admin
def decide_held(org_id: int, action: str) -> Any:
    ids = load_body(schemas.HeldDecisionRequest())["ids"]
    _org_mode(org_id)
    return jsonify(held.decide(org_id, ids, action)), 202
