"""The connect flow's part of the OpenAPI document: the admin API's connect links, and the
browser pages of the flow (documented so clients, and the fuzzer, know them)."""

from __future__ import annotations

from apispec import APISpec

from brightsync.web import schemas
from brightsync.web.openapi.admin import COMMON, ORG_ID, USER_ID
from brightsync.web.openapi.parts import ERR, SECURED, json_body

PAGE = {
    "description": "a page saying why",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def _query(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }


def add_connect(spec: APISpec) -> None:
    spec.components.schema("ConnectLinkCreate", schema=schemas.ConnectLinkCreate)
    spec.components.schema("ConnectLinkOut", schema=schemas.ConnectLinkOut)
    spec.path(
        "/api/v1/orgs/{orgId}/connect-links",
        parameters=[ORG_ID],
        operations={
            "post": {
                **SECURED,
                "summary": "A one-time link that connects a mailbox through Aurinko's OAuth flow",
                "description": "Hand `url` to the user: it leads to Aurinko's sign-in and back "
                "to BrightSync, which registers the mailbox (or gives the user that already has "
                "the account its new token) and starts its first sync. Good until `expiresAt` "
                "or until a mailbox is connected through it.",
                "requestBody": json_body("ConnectLinkCreate"),
                "responses": {
                    "201": {"description": "created", **json_body("ConnectLinkOut")},
                    "404": ERR,
                    "409": {**ERR, "description": "the Aurinko app is not configured"},
                    **COMMON,
                },
            }
        },
    )
    service_type = _query("serviceType", "Google | Office365 | EWS | IMAP (else a choice page)")
    spec.path(
        "/connect/{key}",
        parameters=[{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
        operations={
            "get": {
                "summary": "A connect link: to Aurinko's sign-in (303), or a provider choice",
                "parameters": [service_type],
                "responses": {
                    "303": {"description": "to Aurinko"},
                    "200": PAGE,
                    "404": PAGE,
                    "410": PAGE,
                },
            }
        },
    )
    spec.path(
        "/connect/users/{userId}/{signature}",
        parameters=[
            USER_ID,
            {"name": "signature", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        operations={
            "get": {
                "summary": "A user's reconnect link (`reconnectUrl`): to Aurinko's sign-in",
                "parameters": [service_type],
                "responses": {"303": {"description": "to Aurinko"}, "200": PAGE, "404": PAGE},
            }
        },
    )
    spec.path(
        "/connect/callback",
        operations={
            "get": {
                "summary": "Where Aurinko sends the user back (register it as a return URL)",
                "parameters": [
                    _query("code", "the authorisation code"),
                    _query("state", "the signed, single-use state BrightSync sent"),
                    _query("status", "success | error"),
                    _query("error", "why it failed"),
                    _query("message", "why it failed, in words"),
                ],
                "responses": {
                    "200": PAGE,
                    "303": {"description": "to the link's returnUrl, with the outcome"},
                    "400": PAGE,
                    "409": PAGE,
                },
            }
        },
    )
