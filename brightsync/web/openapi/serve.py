"""GET /api/v1/openapi.json: the admin API's OpenAPI document (public, no token)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from brightsync.web.openapi.document import admin_openapi

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
def document() -> Any:
    return jsonify(admin_openapi())
