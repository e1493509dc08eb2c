"""OpenAPI document of the admin API, generated from the same marshmallow schemas it validates."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from brightsync import __version__
from brightsync.web import MAX_ID, schemas
from brightsync.web.ops_openapi import add_operations, json_body
from brightsync.web.review_api import add_review

_ERR = {
    "description": "error with a reason",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "fields": {"type": "object"}},
            }
        }
    },
}


@lru_cache(maxsize=1)
def admin_openapi() -> dict[str, Any]:
    spec = APISpec(
        title="BrightSync admin API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Operate BrightSync: organisations, mailboxes, status, sync cache."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in [
        ("OrgCreate", schemas.OrgCreate),
        ("OrgPatch", schemas.OrgPatch),
        ("OrgOut", schemas.OrgOut),
        ("UserCreate", schemas.UserCreate),
        ("SubscriptionOut", schemas.SubscriptionOut),
        ("UserOut", schemas.UserOut),
        ("SyncRequest", schemas.SyncRequest),
        ("UnmatchedOut", schemas.UnmatchedOut),
        ("EmailDecisionOut", schemas.EmailDecisionOut),
        ("PossibleDuplicatePage", schemas.PossibleDuplicatePage),
        ("DuplicateDecision", schemas.DuplicateDecision),
    ]:
        spec.components.schema(name, schema=schema)
    secured = {"security": [{"bearer": []}]}
    common = {"400": _ERR, "401": _ERR}
    row_id = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    org_id = {"name": "orgId", "in": "path", "required": True, "schema": row_id}
    user_id = {"name": "userId", "in": "path", "required": True, "schema": row_id}
    spec.path(
        "/api/v1/orgs",
        operations={
            "post": {
                **secured,
                "summary": "Create an organisation",
                "requestBody": json_body("OrgCreate"),
                "responses": {"201": {"description": "created", **json_body("OrgOut")}, **common},
            },
            "get": {
                **secured,
                "summary": "List organisations",
                "responses": {"200": {"description": "organisations"}, **common},
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}",
        parameters=[org_id],
        operations={
            "get": {
                **secured,
                "responses": {
                    "200": {"description": "the organisation", **json_body("OrgOut")},
                    "404": _ERR,
                    **common,
                },
            },
            "patch": {
                **secured,
                "requestBody": json_body("OrgPatch"),
                "responses": {
                    "200": {"description": "updated", **json_body("OrgOut")},
                    "404": _ERR,
                    **common,
                },
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/users",
        parameters=[org_id],
        operations={
            "post": {
                **secured,
                "summary": "Register a mailbox; a worker then creates its Aurinko subscriptions",
                "description": "Answers at once: each subscription is `pending` until a worker "
                "has created it (`active`) or Aurinko refused it (`failed`, with the reason).",
                "requestBody": json_body("UserCreate"),
                "responses": {
                    "201": {"description": "created", **json_body("UserOut")},
                    "404": _ERR,
                    "409": _ERR,
                    "503": _ERR,
                    **common,
                },
            },
        },
    )
    spec.path(
        "/api/v1/users/{userId}",
        parameters=[user_id],
        operations={
            "get": {
                **secured,
                "summary": "The user with a status per service",
                "responses": {
                    "200": {"description": "user", **json_body("UserOut")},
                    "404": _ERR,
                    **common,
                },
            },
        },
    )
    spec.path(
        "/api/v1/users/{userId}/sync",
        parameters=[user_id],
        operations={
            "post": {
                **secured,
                "summary": "Sync now",
                "requestBody": json_body("SyncRequest"),
                "responses": {
                    "202": {"description": "queued or coalesced"},
                    "404": _ERR,
                    "503": _ERR,
                    **common,
                },
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/unmatched",
        parameters=[org_id],
        operations={
            "get": {
                **secured,
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
                "responses": {"200": {"description": "items"}, "404": _ERR, **common},
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/emails",
        parameters=[org_id],
        operations={
            "get": {
                **secured,
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
                    "404": _ERR,
                    **common,
                },
            },
        },
    )
    add_operations(spec, _ERR)
    add_review(spec, _ERR)
    spec.path(
        "/api/v1/orgs/{orgId}/duplicates",
        parameters=[org_id],
        operations={
            "get": {
                **secured,
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
                    "404": _ERR,
                    **common,
                },
            },
        },
    )
    spec.path(
        "/api/v1/orgs/{orgId}/duplicates/{pairId}",
        parameters=[
            org_id,
            {"name": "pairId", "in": "path", "required": True, "schema": {"type": "integer"}},
        ],
        operations={
            "patch": {
                **secured,
                "summary": "Decide a possible duplicate: approved (same person) or rejected",
                "requestBody": {"required": True, **json_body("DuplicateDecision")},
                "responses": {
                    "200": {"description": "the pair", **json_body("PossibleDuplicateOut")},
                    "404": _ERR,
                    **common,
                },
            },
        },
    )
    spec.path(
        "/webhooks/aurinko",
        operations={
            "post": {
                "summary": "Aurinko notifications and the validationToken handshake",
                "responses": {
                    "200": {"description": "accepted"},
                    "400": _ERR,
                    "401": _ERR,
                    "413": _ERR,
                    "503": _ERR,
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
    return spec.to_dict()
