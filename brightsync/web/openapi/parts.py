"""Pieces every part of the OpenAPI document uses."""

from __future__ import annotations

from typing import Any

# Every error answer: a reason, and the offending fields for a 400 (web.common.error_answer).
ERR: dict[str, Any] = {
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

# Operations behind the admin bearer token.
SECURED: dict[str, Any] = {"security": [{"bearer": []}]}


def json_body(schema: str) -> dict[str, Any]:
    """A JSON request or response body of the named schema."""
    return {"content": {"application/json": {"schema": schema}}}
