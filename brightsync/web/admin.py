"""The admin API under /api/v1: organisations, users, status, the sync cache, email decisions."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request
from marshmallow import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from brightsync import subscriptions
from brightsync.connect.links import reconnect_url
from brightsync.crm.settings import OrgSettings, effective_settings
from brightsync.crypto import encrypt, encrypt_json
from brightsync.db import session_scope
from brightsync.email.decisions import describe_message
from brightsync.lifecycle.change import change_user
from brightsync.models import Organisation, UnmatchedItem, User
from brightsync.ops import actions
from brightsync.ops.status import services_of, unmatched_out
from brightsync.sync import scheduler
from brightsync.web import schemas
from brightsync.web.common import error_answer, load_body, require_admin

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/api/v1")


def org_out(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "domains": org.domains,
        "crm": {"baseUrl": org.crm_base_url, "authType": org.crm_auth_type},
        "settings": effective_settings(org.settings),
        "mode": org.mode,
        "createdAt": org.created_at.isoformat(),
    }


def user_out(session: Any, user: User) -> dict[str, Any]:
    status = services_of(session, user)
    return {
        "id": user.id,
        "settings": user.settings or {},
        "effectiveSettings": effective_settings(user.org.settings, user.settings),
        "orgId": user.org_id,
        "email": user.email,
        "crmUserId": user.crm_user_id,
        "aurinkoAccountId": user.aurinko_account_id,
        "services": user.services,
        "mailbox": {"state": user.mailbox_state, "error": user.mailbox_error},
        "paused": bool(user.paused),
        "mode": user.mode,
        "status": status,
        "subscriptions": subscriptions.describe(session, user.id),
        "reconnectUrl": reconnect_url(user) if user.mailbox_state != "ok" else None,
    }


def _crm_secret(crm: dict[str, Any]) -> str:
    if crm["authType"] == "bearer":
        return encrypt_json({"token": crm["token"]})
    return encrypt_json({"username": crm["username"], "password": crm["password"]})


def create_org(data: dict[str, Any]) -> dict[str, Any]:
    with session_scope() as s:
        org = Organisation(
            name=data["name"],
            domains=sorted({d.strip().lower() for d in data["domains"]}),
            crm_base_url=data["crm"]["baseUrl"].rstrip("/"),
            crm_auth_type=data["crm"]["authType"],
            crm_secret_enc=_crm_secret(data["crm"]),
            settings=data["settings"],
            mode=data.get("mode", "live"),
        )
        s.add(org)
        s.flush()
        return org_out(org)


class QueueUnavailable(Exception):
    """The broker did not take a task; nothing was kept, the client may retry."""


def create_user(org_id: int, data: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Register a mailbox; returns (user, error).

    Its subscriptions are recorded `pending` with the user and created by a task published
    once the row is committed: Aurinko's validation handshake calls back into this web
    process, so the request must not wait for Aurinko. When the broker refuses the task the
    registration is undone and QueueUnavailable raised, so a retry starts clean.
    """
    from brightsync.sync.queue import publish_subscriptions

    try:
        with session_scope() as s:
            org = s.get(Organisation, org_id)
            if org is None:
                return None, "organisation not found"
            user = User(
                org_id=org_id,
                email=data["email"].lower(),
                crm_user_id=data["crmUserId"],
                aurinko_account_id=str(data["aurinkoAccountId"]),
                access_token_enc=encrypt(data["aurinkoAccessToken"]),
                services=list(dict.fromkeys(data["services"])),
                # A user joining an organisation in review reviews too.
                mode="review" if org.mode == "review" else data.get("mode", "live"),
            )
            s.add(user)
            subscriptions.add_pending(s, user)
            s.flush()
            user_id = user.id
            for service in user.services:  # never synced yet: the safety sync finds them
                scheduler.ensure_state(s, user_id, service)
    except IntegrityError:
        return None, "this Aurinko account is already registered"
    try:
        publish_subscriptions(user_id)
    except Exception as exc:
        log.warning("registration of %s undone, the broker refused its task: %r", user_id, exc)
        with session_scope() as s:
            s.execute(delete(User).where(User.id == user_id))
        raise QueueUnavailable(str(exc)) from None
    with session_scope() as s:
        return user_out(s, s.get(User, user_id)), None


@bp.post("/orgs")
@require_admin
def post_org() -> Any:
    return jsonify(create_org(load_body(schemas.OrgCreate()))), 201


@bp.get("/orgs")
@require_admin
def list_orgs() -> Any:
    with session_scope() as s:
        return jsonify(
            [org_out(o) for o in s.scalars(select(Organisation).order_by(Organisation.id))]
        )


@bp.get("/orgs/<int:org_id>")
@require_admin
def get_org(org_id: int) -> Any:
    with session_scope() as s:
        org = s.get(Organisation, org_id)
        if org is None:
            return error_answer("organisation not found", 404)
        out = org_out(org)
        out["users"] = [u.id for u in org.users]
        return jsonify(out)


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@bp.patch("/orgs/<int:org_id>")
@require_admin
def patch_org(org_id: int) -> Any:
    data = load_body(schemas.OrgPatch())
    with session_scope() as s:
        org = s.get(Organisation, org_id)
        if org is None:
            return error_answer("organisation not found", 404)
        if "settings" in data:
            try:
                org.settings = OrgSettings().load(_merge(org.settings or {}, data["settings"]))
            except ValidationError as exc:
                return error_answer("invalid request", 400, fields={"settings": exc.messages})
        if "name" in data:
            org.name = data["name"]
        if "domains" in data:
            org.domains = sorted({d.strip().lower() for d in data["domains"]})
        if "crm" in data:
            org.crm_base_url = data["crm"]["baseUrl"].rstrip("/")
            org.crm_auth_type = data["crm"]["authType"]
            org.crm_secret_enc = _crm_secret(data["crm"])
            # Another connector (or the same one upgraded): probe its capabilities afresh.
            org.crm_capabilities = org.crm_capabilities_at = None
            org.crm_vocabulary = None  # and learn its words afresh
        return jsonify(org_out(org))


@bp.post("/orgs/<int:org_id>/users")
@require_admin
def post_user(org_id: int) -> Any:
    data = load_body(schemas.UserCreate())
    try:
        out, error = create_user(org_id, data)
    except QueueUnavailable:
        return error_answer("queue unavailable; nothing was registered, retry later", 503)
    if error == "organisation not found":
        return error_answer(error, 404)
    if error:
        return error_answer(error, 409)
    return jsonify(out), 201


@bp.get("/users/<int:user_id>")
@require_admin
def get_user(user_id: int) -> Any:
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            return error_answer("user not found", 404)
        return jsonify(user_out(s, user))


@bp.patch("/users/<int:user_id>")
@require_admin
def patch_user(user_id: int) -> Any:
    """Change a user; each field its own step: a new token (reconnect), then services, CRM
    user and settings (brightsync/lifecycle/change.py)."""
    data = load_body(schemas.UserPatch())
    try:
        if "aurinkoAccessToken" in data:
            actions.reconnect(user_id, data["aurinkoAccessToken"])
        if data.keys() - {"aurinkoAccessToken"}:
            change_user(user_id, data)
    except actions.ActionError as exc:
        return error_answer(exc.message, exc.status)
    except ValidationError as exc:
        return error_answer("invalid request", 400, fields={"settings": exc.messages})
    except Exception as exc:  # the change is stored; only the work could not be queued
        log.warning("change of user %s: work not queued: %s", user_id, type(exc).__name__)
        return error_answer("change stored; queue unavailable, retry to queue its work", 503)
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            return error_answer("user not found", 404)
        return jsonify(user_out(s, user))


@bp.post("/users/<int:user_id>/sync")
@require_admin
def post_sync(user_id: int) -> Any:
    data = load_body(schemas.SyncRequest())
    try:
        outcome = actions.sync_now(user_id, data["service"])
    except actions.ActionError as exc:
        return error_answer(exc.message, exc.status)
    except Exception:
        return error_answer("queue unavailable; retry later", 503)
    return jsonify(userId=user_id, services=outcome), 202


def _whole(raw: str) -> int | None:
    """A non-negative whole number of at most 10 digits; None (a 400) for anything else."""
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else None


@bp.get("/orgs/<int:org_id>/unmatched")
@require_admin
def get_unmatched(org_id: int) -> Any:
    limit = request.args.get("limit", 100, type=_whole)
    offset = request.args.get("offset", 0, type=_whole)
    if limit is None or offset is None:
        return error_answer("limit and offset must be whole numbers (at most 10 digits)", 400)
    limit = min(1000, max(1, limit))
    with session_scope() as s:
        if s.get(Organisation, org_id) is None:
            return error_answer("organisation not found", 404)
        rows = s.scalars(
            select(UnmatchedItem)
            .where(UnmatchedItem.org_id == org_id)
            .order_by(UnmatchedItem.created_at, UnmatchedItem.id)
            .limit(limit)
            .offset(offset)
        ).all()
        items = [unmatched_out(r) for r in rows]
    return jsonify(items=items, limit=limit, offset=offset)


@bp.get("/orgs/<int:org_id>/duplicates")
@require_admin
def get_duplicates(org_id: int) -> Any:
    from brightsync.review.duplicates import list_possible_duplicates

    query = schemas.DuplicatesQuery().load(request.args.to_dict())
    state = None if query["state"] == "all" else query["state"]
    with session_scope() as s:
        if s.get(Organisation, org_id) is None:
            return error_answer("organisation not found", 404)
        items, total = list_possible_duplicates(s, org_id, state, query["limit"], query["offset"])
    out = schemas.PossibleDuplicateOut(many=True).dump(items)
    return jsonify(items=out, total=total, limit=query["limit"], offset=query["offset"])


@bp.patch("/orgs/<int:org_id>/duplicates/<int:pair_id>")
@require_admin
def patch_duplicate(org_id: int, pair_id: int) -> Any:
    from brightsync.review.duplicates import decide_possible_duplicate, duplicate_out

    data = load_body(schemas.DuplicateDecision())
    with session_scope() as s:
        row = decide_possible_duplicate(s, org_id, pair_id, data["state"])
        if row is None:
            return error_answer("no such possible duplicate in this organisation", 404)
        s.flush()
        out = schemas.PossibleDuplicateOut().dump(duplicate_out(row))
    return jsonify(out)


@bp.get("/orgs/<int:org_id>/emails")
@require_admin
def get_email_decision(org_id: int) -> Any:
    msg_id = request.args.get("rfc822MsgId", "").strip()
    if not msg_id:
        return error_answer("query parameter rfc822MsgId is required", 400)
    with session_scope() as s:
        if s.get(Organisation, org_id) is None:
            return error_answer("organisation not found", 404)
        decision = describe_message(s, org_id, msg_id)
    if decision is None:
        return error_answer(
            "no mailbox of this organisation has synced that message", 404, rfc822MsgId=msg_id
        )
    return jsonify(decision)
