"""The operations part of the admin API's OpenAPI document (status, actions, why, runs)."""

from __future__ import annotations

from apispec import APISpec
from marshmallow import Schema, fields

from brightsync.domains import EXPLAINERS
from brightsync.web.openapi.parts import ERR, SECURED, json_body


class UnmatchedPage(Schema):
    count = fields.Integer()
    items = fields.List(fields.Nested("UnmatchedOut"))


class Panel(Schema):
    count = fields.Integer()
    items = fields.List(fields.Dict())


class DomainReachOut(Schema):
    domain = fields.String(metadata={"description": "email, calendar, contacts or tasks"})
    verdict = fields.String(metadata={"description": "full | limited | cannot | unknown"})
    label = fields.String(
        metadata={"description": "works fully, works with limits, cannot run, not known yet"}
    )
    limits = fields.List(fields.String(), metadata={"description": "each limit, in words"})
    reasons = fields.List(fields.String(), metadata={"description": "why it cannot run"})
    notKnownYet = fields.List(
        fields.String(), metadata={"description": "endpoints discovery has not asked about"}
    )


class ConnectorReachOut(Schema):
    known = fields.Boolean(metadata={"description": "false until a sync has found out anything"})
    learnedAt = fields.String(allow_none=True)
    overrides = fields.List(
        fields.String(), metadata={"description": "capabilities pinned in the org's settings"}
    )
    message = fields.String(allow_none=True)
    domains = fields.List(fields.Nested(DomainReachOut))


class OrgStatusOut(Schema):
    id = fields.Integer()
    name = fields.String()
    totals = fields.Dict(
        metadata={"description": "users, services by health, emails by state, unmatched"}
    )
    users = fields.List(fields.Dict(), metadata={"description": "each user's services"})
    unmatched = fields.Nested(UnmatchedPage)
    heldDeletions = fields.Nested(
        Panel,
        allow_none=True,
        metadata={"description": "two-way links whose deletion waits for review, with why"},
    )
    possibleDuplicates = fields.Nested(
        Panel,
        allow_none=True,
        metadata={"description": "open possible duplicate contacts (GET .../duplicates)"},
    )
    panels = fields.Dict(keys=fields.String(), values=fields.Nested(Panel))
    connector = fields.Nested(
        ConnectorReachOut,
        metadata={
            "description": "what the connector gets each domain, from what discovery "
            "remembered (the status never asks the connector)"
        },
    )


class ActionOut(Schema):
    userId = fields.Integer()
    services = fields.Raw(metadata={"description": "the services acted on"})
    paused = fields.Boolean()
    queued = fields.Dict(metadata={"description": "service -> enqueued | paused"})
    tokensCleared = fields.Boolean()


class RetryOut(Schema):
    id = fields.Integer()
    matched = fields.Boolean()
    attempts = fields.Integer(allow_none=True)


class RunPoint(Schema):
    start = fields.DateTime()
    runs = fields.Integer()
    errors = fields.Integer()
    synced = fields.Integer()
    skipped = fields.Integer()
    cached = fields.Integer()
    failed = fields.Integer()


class RunsOut(Schema):
    hours = fields.Integer()
    points = fields.List(fields.Nested(RunPoint))


class DecisionItem(Schema):
    kind = fields.String()
    key = fields.String()
    subject = fields.String(allow_none=True)
    state = fields.String()
    reason = fields.String(allow_none=True)
    direction = fields.String(allow_none=True)
    ownerUserId = fields.Integer()
    decidedAt = fields.DateTime(allow_none=True)
    claimedAt = fields.DateTime()


class DecisionsOut(Schema):
    items = fields.List(fields.Nested(DecisionItem))


class LinkWhyOut(Schema):
    """`why` for a two-way link: a contact, a task, a meeting asked by its event id."""

    kind = fields.String()
    key = fields.String()
    matchedBy = fields.String(metadata={"description": "mailboxId | crmId: which id the key is"})
    domain = fields.String()
    link = fields.Integer()
    state = fields.String(metadata={"description": "synced | creating | held | failed | deleted"})
    mailboxId = fields.String(allow_none=True)
    crmId = fields.String(allow_none=True)
    userId = fields.Integer(metadata={"description": "whose mailbox"})
    mailbox = fields.String(allow_none=True, metadata={"description": "that mailbox's address"})
    lastSyncedAt = fields.DateTime(allow_none=True, metadata={"description": "link last written"})
    lastRunAt = fields.DateTime(allow_none=True, metadata={"description": "that user's last run"})
    decision = fields.String(
        metadata={"description": "synced | creating | held | failed | review | deleted"}
    )
    why = fields.String()
    conflict = fields.Dict(
        metadata={"description": "the last conflict: fields, lost values, policy, winner, at"}
    )
    held = fields.Dict(metadata={"description": "deleteIn, deletedIn, reason, at, decision"})
    duplicate = fields.Dict(metadata={"description": "the possible-duplicate pair under review"})
    error = fields.String(allow_none=True)
    errorAt = fields.DateTime(allow_none=True)
    settings = fields.Dict(metadata={"description": "the org's direction and conflict policy"})
    otherLinks = fields.List(fields.Dict(), metadata={"description": "other users' links"})


def add_operations(spec: APISpec) -> None:
    """Status, pause / resume / re-sync, cache retries, why, decisions and the run series."""
    for name, schema in [
        ("OrgStatusOut", OrgStatusOut),
        ("ActionOut", ActionOut),
        ("RetryOut", RetryOut),
        ("RunsOut", RunsOut),
        ("DecisionsOut", DecisionsOut),
        ("LinkWhyOut", LinkWhyOut),
    ]:
        spec.components.schema(name, schema=schema)
    common = {"400": ERR, "401": ERR}
    org_id = {"name": "orgId", "in": "path", "required": True, "schema": {"type": "integer"}}
    user_id = {"name": "userId", "in": "path", "required": True, "schema": {"type": "integer"}}
    runs_params = [
        {"name": "hours", "in": "query", "schema": {"type": "integer", "default": 24}},
        {"name": "points", "in": "query", "schema": {"type": "integer", "default": 24}},
    ]
    spec.path(
        "/api/v1/status",
        operations={
            "get": {
                **SECURED,
                "summary": "Every organisation's totals",
                "responses": {"200": {"description": "{orgs: [OrgStatusOut]}"}, **common},
            }
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/status",
        parameters=[org_id],
        operations={
            "get": {
                **SECURED,
                "summary": "Users and services by health, totals, the sync cache, panels",
                "parameters": [
                    {"name": "cacheLimit", "in": "query", "schema": {"type": "integer"}}
                ],
                "responses": {
                    "200": {"description": "status", **json_body("OrgStatusOut")},
                    "404": ERR,
                    **common,
                },
            }
        },
    )
    for action, summary, code in [
        ("pause", "Pause the user, or one service ({service}); checked where runs start", "200"),
        ("resume", "Resume the user (and its services), or one service; queues a run", "200"),
        (
            "resync",
            "Clear delta tokens and re-read everything; claims keep it from doubling",
            "202",
        ),
    ]:
        spec.path(
            f"/api/v1/users/{{userId}}/{action}",
            parameters=[user_id],
            operations={
                "post": {
                    **SECURED,
                    "summary": summary,
                    "requestBody": json_body("SyncRequest"),
                    "responses": {
                        code: {"description": "done", **json_body("ActionOut")},
                        "404": ERR,
                        "409": ERR,
                        **common,
                    },
                }
            },
        )
    spec.path(
        "/api/v1/orgs/{orgId}/unmatched/{itemId}/retry",
        parameters=[
            org_id,
            {"name": "itemId", "in": "path", "required": True, "schema": {"type": "integer"}},
        ],
        operations={
            "post": {
                **SECURED,
                "summary": "Look the item's addresses up in the CRM now",
                "responses": {
                    "200": {"description": "matched or still waiting", **json_body("RetryOut")},
                    "404": ERR,
                    "503": ERR,
                    **common,
                },
            }
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/why/{kind}",
        parameters=[
            org_id,
            {
                "name": "kind",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": ", ".join(sorted(EXPLAINERS)),
            },
        ],
        operations={
            "get": {
                **SECURED,
                "summary": "What was decided for one record, when, by whose mailbox, and why",
                "parameters": [
                    {
                        "name": "key",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "; ".join(
                            f"{kind}: {why.key_hint}" for kind, why in sorted(EXPLAINERS.items())
                        ),
                    }
                ],
                "responses": {
                    "200": {
                        "description": "explanation (its fields depend on the kind)",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "anyOf": [
                                        {"$ref": "#/components/schemas/EmailDecisionOut"},
                                        {"$ref": "#/components/schemas/LinkWhyOut"},
                                        {"type": "object"},
                                    ]
                                }
                            }
                        },
                    },
                    "404": ERR,
                    **common,
                },
            }
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/decisions",
        parameters=[org_id],
        operations={
            "get": {
                **SECURED,
                "summary": "The latest decisions",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "decisions", **json_body("DecisionsOut")},
                    "404": ERR,
                    **common,
                },
            }
        },
    )
    for path, params in [("/api/v1/runs", []), ("/api/v1/orgs/{orgId}/runs", [org_id])]:
        spec.path(
            path,
            parameters=params,
            operations={
                "get": {
                    **SECURED,
                    "summary": "Run outcomes over time: records synced, skipped, cached, errors",
                    "parameters": runs_params,
                    "responses": {
                        "200": {"description": "series", **json_body("RunsOut")},
                        **common,
                    },
                }
            },
        )
