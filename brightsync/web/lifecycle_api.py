"""Leaving and forgetting, under /api/v1: remove a user, remove an organisation, forget a
person's address (brightsync/lifecycle/).

Removal answers what it removed; removing what is gone (a second DELETE) is a 404 with a
reason, so a retried DELETE whose first answer was lost says the row is gone either way.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from brightsync.lifecycle.forget import forget
from brightsync.lifecycle.removal import remove_org, remove_user
from brightsync.web import lifecycle_schemas
from brightsync.web.common import error_answer, load_body, require_admin

bp = Blueprint("lifecycle", __name__, url_prefix="/api/v1")


@bp.delete("/users/<int:user_id>")
@require_admin
def delete_user(user_id: int) -> Any:
    out = remove_user(user_id)
    if out is None:
        return error_answer("user not found (never registered, or removed already)", 404)
    return jsonify(out)


@bp.delete("/orgs/<int:org_id>")
@require_admin
def delete_org(org_id: int) -> Any:
    out = remove_org(org_id)
    if out is None:
        return error_answer("organisation not found (never created, or removed already)", 404)
    return jsonify(out)


@bp.post("/orgs/<int:org_id>/forget")
@require_admin
def post_forget(org_id: int) -> Any:
    data = load_body(lifecycle_schemas.ForgetRequest())
    out = forget(org_id, data["emailAddress"])
    if out is None:
        return error_answer("organisation not found", 404)
    return jsonify(out)
