"""The admin API's own part of the OpenAPI document: organisations, users, sync now, the
sync cache, email decisions, possible duplicates; and the service endpoints (webhooks,
health)."""

from __future__ import annotations

from apispec import APISpec

from brightsync.web import lifecycle_schemas, schemas
from brightsync.web.common import MAX_ID
from brightsync.web.openapi.parts import ERR, SECURED, json_body

ROW_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
ORG_ID = {"name": "orgId", "in": "path", "required": True, "schema": ROW_ID}
USER_ID = {"name": "userId", "in": "path", "required": True, "schema": ROW_ID}
COMMON = {"400": ERR, "401": ERR}


def add_admin(spec: APISpec) -> None:
    """Organisations, users, sync now, the sync cache and email decisions."""
    for name, schema in [
        ("OrgCreate", schemas.OrgCreate),
        ("OrgPatch", schemas.OrgPatch),
        ("OrgOut", schemas.OrgOut),
        ("UserCreate", schemas.UserCreate),
        ("UserPatch", schemas.UserPatch),
        ("UserRemoved", lifecycle_schemas.UserRemoved),
        ("OrgRemoved", lifecycle_schemas.OrgRemoved),
        ("ForgetRequest", lifecycle_schemas.ForgetRequest),
        ("Forgotten", lifecycle_schemas.Forgotten),
        ("SubscriptionOut", schemas.SubscriptionOut),
        ("UserOut", schemas.UserOut),
        ("SyncRequest", schemas.SyncRequest),
        ("UnmatchedOut", schemas.UnmatchedOut),
        ("EmailDecisionOut", schemas.EmailDecisionOut),
        ("PossibleDuplicatePage", schemas.PossibleDuplicatePage),
        ("DuplicateDecision", schemas.DuplicateDecision),
    ]:
        spec.components.schema(name, schema=schema)
    spec.path(
        "/api/v1/orgs",
        operations={
            "post": {
                **SECURED,
                "summary": "Create an organisation",
                "requestBody": json_body("OrgCreate"),
                "responses": {"201": {"description": "created", **json_body("OrgOut")}, **COMMON},
            },
            "get": {
                **SECURED,
                "summary": "List organisations",
                "responses": {"200": {"description": "organisations"}, **COMMON},
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}",
        parameters=[ORG_ID],
        operations={
            "get": {
                **SECURED,
                "responses": {
                    "200": {"description": "the organisation", **json_body("OrgOut")},
                    "404": ERR,
                    **COMMON,
                },
            },
            "patch": {
                **SECURED,
                "requestBody": json_body("OrgPatch"),
                "responses": {
                    "200": {"description": "updated", **json_body("OrgOut")},
                    "404": ERR,
                    **COMMON,
                },
            },
            "delete": {
                **SECURED,
                "summary": "Remove an organisation with every user",
                "description": "Every user removed as DELETE /users/{userId} does, then every "
                "row of the organisation. A second DELETE answers 404.",
                "responses": {
                    "200": {"description": "what was removed", **json_body("OrgRemoved")},
                    "404": ERR,
                    **COMMON,
                },
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/forget",
        parameters=[ORG_ID],
        operations={
            "post": {
                **SECURED,
                "summary": "Forget a person's address",
                "description": "Erases the address from the sync cache, email decisions, "
                "possible duplicates, review reports and finished create intents kept by "
                "BrightSync (not from the CRM). Safe to repeat: a second call erases nothing.",
                "requestBody": json_body("ForgetRequest"),
                "responses": {
                    "200": {"description": "what was erased", **json_body("Forgotten")},
                    "404": ERR,
                    **COMMON,
                },
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/users",
        parameters=[ORG_ID],
        operations={
            "post": {
                **SECURED,
                "summary": "Register a mailbox; a worker then creates its Aurinko subscriptions",
                "description": "Answers at once: each subscription is `pending` until a worker "
                "has created it (`active`) or Aurinko refused it (`failed`, with the reason).",
                "requestBody": json_body("UserCreate"),
                "responses": {
                    "201": {"description": "created", **json_body("UserOut")},
                    "404": ERR,
                    "409": ERR,
                    "503": ERR,
                    **COMMON,
                },
            },
        },
    )
    spec.path(
        "/api/v1/users/{userId}",
        parameters=[USER_ID],
        operations={
            "get": {
                **SECURED,
                "summary": "The user with a status per service",
                "responses": {
                    "200": {"description": "user", **json_body("UserOut")},
                    "404": ERR,
                    **COMMON,
                },
            },
            "patch": {
                **SECURED,
                "summary": "Change a user: token (reconnect), services, CRM user, own settings",
                "description": "A new `aurinkoAccessToken` replaces the stored one, clears "
                "`needs_reauth` and queues a run of each service, which resumes from its saved "
                "cursors: nothing is synced again, nothing missed while the token was dead. "
                "`services`: one turned off stops at once (subscription deleted, cursors "
                "kept); one turned on is subscribed and synced at once. `settings`: the "
                "user's overrides of the organisation's settings (same schema; a 400 names "
                "the bad key).",
                "requestBody": json_body("UserPatch"),
                "responses": {
                    "200": {"description": "updated", **json_body("UserOut")},
                    "404": ERR,
                    "503": ERR,
                    **COMMON,
                },
            },
            "delete": {
                **SECURED,
                "summary": "Remove a user",
                "description": "Deletes its Aurinko subscriptions (a task retries failures; "
                "the removal never waits for them), stops its runs and tasks, removes its "
                "token and mailbox-side rows; email claims and meetings it owned pass to a "
                "colleague's copy where one exists. What was logged in the CRM stays. A "
                "second DELETE answers 404.",
                "responses": {
                    "200": {"description": "what was removed", **json_body("UserRemoved")},
                    "404": ERR,
                    **COMMON,
                },
            },
        },
    )
    spec.path(
        "/api/v1/users/{userId}/sync",
        parameters=[USER_ID],
        operations={
            "post": {
                **SECURED,
                "summary": "Sync now",
                "requestBody": json_body("SyncRequest"),
                "responses": {
                    "202": {"description": "queued (even when a run already was)"},
                    "404": ERR,
                    "503": ERR,
                    **COMMON,
                },
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/unmatched",
        parameters=[ORG_ID],
        operations={
            "get": {
                **SECURED,
                "summary": "The sync cache of unmatched emails and meetings",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 9_999_999_999},
                    },
                ],
                "responses": {"200": {"description": "items"}, "404": ERR, **COMMON},
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/emails",
        parameters=[ORG_ID],
        operations={
            "get": {
                **SECURED,
                "summary": "What was decided for one message",
                "parameters": [
                    {
                        "name": "rfc822MsgId",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {"description": "decision", **json_body("EmailDecisionOut")},
                    "404": ERR,
                    **COMMON,
                },
            },
        },
    )


def add_duplicates(spec: APISpec) -> None:
    """Possible duplicate contacts waiting for review, and their decision."""
    spec.path(
        "/api/v1/orgs/{orgId}/duplicates",
        parameters=[ORG_ID],
        operations={
            "get": {
                **SECURED,
                "summary": "Possible duplicate contacts waiting for review (both records, reasons)",
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["open", "approved", "rejected", "all"],
                            "default": "open",
                        },
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "one page of pairs, oldest first",
                        **json_body("PossibleDuplicatePage"),
                    },
                    "404": ERR,
                    **COMMON,
                },
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/duplicates/{pairId}",
        parameters=[
            ORG_ID,
            {"name": "pairId", "in": "path", "required": True, "schema": {"type": "integer"}},
        ],
        operations={
            "patch": {
                **SECURED,
                "summary": "Decide a possible duplicate: approved (same person) or rejected",
                "requestBody": {"required": True, **json_body("DuplicateDecision")},
                "responses": {
                    "200": {"description": "the pair", **json_body("PossibleDuplicateOut")},
                    "404": ERR,
                    **COMMON,
                },
            },
        },
    )


def add_service(spec: APISpec) -> None:
    """The endpoints outside the admin API: Aurinko's webhooks and the health check."""
    spec.path(
        "/webhooks/aurinko",
        operations={
            "post": {
                "summary": "Aurinko notifications and the validationToken handshake",
                "responses": {
                    "200": {"description": "accepted"},
                    "400": ERR,
                    "401": ERR,
                    "413": ERR,
                    "503": ERR,
                },
            },
        },
    )
    spec.path(
        "/healthz",
        operations={
            "get": {
                "responses": {
                    "200": {"description": "database and broker up"},
                    "503": {"description": "degraded"},
                }
            }
        },
    )
