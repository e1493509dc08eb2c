"""The admin API's review part under /api/v1: review mode, the pre-sync report, activation,
and held deletions (approve / reject)."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask import Blueprint, jsonify
from marshmallow import Schema, ValidationError, fields

from brightsync.db import session_scope
from brightsync.models import Organisation, User
from brightsync.review import held, mode
from brightsync.web import schemas
from brightsync.web.admin import _load, require_admin
from brightsync.web.ops_api import _int_arg

bp = Blueprint("review_api", __name__, url_prefix="/api/v1")


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError) -> Any:
    return jsonify(error="invalid request", fields=exc.messages), 400


@bp.errorhandler(mode.ModeError)
def _refused(exc: mode.ModeError) -> Any:
    return jsonify(error=str(exc)), 409


@bp.errorhandler(LookupError)
def _missing(exc: LookupError) -> Any:
    return jsonify(error=str(exc)), 404


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
    wanted = _load(schemas.ModeRequest())["mode"]
    if wanted == "live":
        return jsonify(mode.activate(org_id=org_id))
    return jsonify(mode="review", users=mode.set_mode(mode="review", org_id=org_id))


@bp.put("/users/<int:user_id>/mode")
@require_admin
def put_user_mode(user_id: int) -> Any:
    wanted = _load(schemas.ModeRequest())["mode"]
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
    limit = _int_arg("limit", 100, 1, 500)
    offset = _int_arg("offset", 0, 0, 10**9)
    _org_mode(org_id)
    with session_scope() as s:
        items, total = held.list_held(s, org_id, limit, offset)
    return jsonify(items=items, total=total)


@bp.post("/orgs/<int:org_id>/held-deletions/<any(approve, reject):action>")
@require_admin
def decide_held(org_id: int, action: str) -> Any:
    ids = _load(schemas.HeldDecisionRequest())["ids"]
    _org_mode(org_id)
    return jsonify(held.decide(org_id, ids, action)), 202


# --- OpenAPI --------------------------------------------------------------------------------


class ReviewReportOut(Schema):
    mode = fields.String(metadata={"description": "live | review"})
    users = fields.List(
        fields.Dict(), metadata={"description": "per user: service -> what its run would do"}
    )
    emails = fields.Dict(
        metadata={"description": "toLog (with matched contacts and contacts to create), unmatched"}
    )


class ModeOut(Schema):
    mode = fields.String()
    users = fields.List(fields.Integer())
    queued = fields.Integer(metadata={"description": "runs queued by activation"})


class HeldPage(Schema):
    items = fields.List(fields.Dict())
    total = fields.Integer()


class HeldDecisionOut(Schema):
    decision = fields.String()
    links = fields.List(fields.Integer(), metadata={"description": "decided; carried out next run"})
    notHeld = fields.List(fields.Integer(), metadata={"description": "ignored: not held here"})


def add_review(spec: APISpec, err: dict[str, Any]) -> None:
    for name, schema in [
        ("ReviewReportOut", ReviewReportOut),
        ("ModeRequest", schemas.ModeRequest),
        ("ModeOut", ModeOut),
        ("HeldPage", HeldPage),
        ("HeldDecisionRequest", schemas.HeldDecisionRequest),
        ("HeldDecisionOut", HeldDecisionOut),
    ]:
        spec.components.schema(name, schema=schema)
    secured = {"security": [{"bearer": []}]}
    common = {"400": err, "401": err, "404": err}

    def json(schema: str) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    for kind in ("orgs", "users"):
        name = "orgId" if kind == "orgs" else "userId"
        param = {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
        spec.path(
            f"/api/v1/{kind}/{{{name}}}/review",
            parameters=[param],
            operations={
                "get": {
                    **secured,
                    "summary": "Pre-sync report: what the review runs would do",
                    "responses": {
                        "200": {"description": "report", **json("ReviewReportOut")},
                        **common,
                    },
                }
            },
        )
        spec.path(
            f"/api/v1/{kind}/{{{name}}}/mode",
            parameters=[param],
            operations={
                "put": {
                    **secured,
                    "summary": "Put in review mode, or switch to live (same as activate)",
                    "requestBody": json("ModeRequest"),
                    "responses": {
                        "200": {"description": "mode set", **json("ModeOut")},
                        "409": err,
                        **common,
                    },
                }
            },
        )
        spec.path(
            f"/api/v1/{kind}/{{{name}}}/activate",
            parameters=[param],
            operations={
                "post": {
                    **secured,
                    "summary": "Switch to live and queue runs: they do the reviewed work",
                    "responses": {
                        "200": {"description": "live", **json("ModeOut")},
                        "409": err,
                        **common,
                    },
                }
            },
        )
    org_id = {"name": "orgId", "in": "path", "required": True, "schema": {"type": "integer"}}
    spec.path(
        "/api/v1/orgs/{orgId}/held-deletions",
        parameters=[org_id],
        operations={
            "get": {
                **secured,
                "summary": "Deletions the mass-deletion guard held for review",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": {"description": "held", **json("HeldPage")}, **common},
            }
        },
    )
    for action, summary in [
        ("approve", "Carry out these held deletions (done by the next run)"),
        ("reject", "Drop these deletions: the kept records are created again where deleted"),
    ]:
        spec.path(
            f"/api/v1/orgs/{{orgId}}/held-deletions/{action}",
            parameters=[org_id],
            operations={
                "post": {
                    **secured,
                    "summary": summary,
                    "requestBody": json("HeldDecisionRequest"),
                    "responses": {
                        "202": {"description": "recorded", **json("HeldDecisionOut")},
                        **common,
                    },
                }
            },
        )
