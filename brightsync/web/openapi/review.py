"""The review part of the admin API's OpenAPI document: review mode, the pre-sync report,
activation and held deletions."""

from __future__ import annotations

from apispec import APISpec
from marshmallow import Schema, fields

from brightsync.web import schemas
from brightsync.web.openapi.parts import ERR, SECURED, json_body


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


def add_review(spec: APISpec) -> None:
    """Review mode, the pre-sync report, activation and held deletions."""
    for name, schema in [
        ("ReviewReportOut", ReviewReportOut),
        ("ModeRequest", schemas.ModeRequest),
        ("ModeOut", ModeOut),
        ("HeldPage", HeldPage),
        ("HeldDecisionRequest", schemas.HeldDecisionRequest),
        ("HeldDecisionOut", HeldDecisionOut),
    ]:
        spec.components.schema(name, schema=schema)
    common = {"400": ERR, "401": ERR, "404": ERR}

    for kind in ("orgs", "users"):
        name = "orgId" if kind == "orgs" else "userId"
        param = {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
        spec.path(
            f"/api/v1/{kind}/{{{name}}}/review",
            parameters=[param],
            operations={
                "get": {
                    **SECURED,
                    "summary": "Pre-sync report: what the review runs would do",
                    "responses": {
                        "200": {"description": "report", **json_body("ReviewReportOut")},
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
                    **SECURED,
                    "summary": "Put in review mode, or switch to live (same as activate)",
                    "requestBody": json_body("ModeRequest"),
                    "responses": {
                        "200": {"description": "mode set", **json_body("ModeOut")},
                        "409": ERR,
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
                    **SECURED,
                    "summary": "Switch to live and queue runs: they do the reviewed work",
                    "responses": {
                        "200": {"description": "live", **json_body("ModeOut")},
                        "409": ERR,
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
                **SECURED,
                "summary": "Deletions the mass-deletion guard held for review",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": {"description": "held", **json_body("HeldPage")}, **common},
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
                    **SECURED,
                    "summary": summary,
                    "requestBody": json_body("HeldDecisionRequest"),
                    "responses": {
                        "202": {"description": "recorded", **json_body("HeldDecisionOut")},
                        **common,
                    },
                }
            },
        )
