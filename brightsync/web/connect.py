"""Connecting a mailbox through Aurinko's OAuth flow: the admin API's
`POST /api/v1/orgs/{orgId}/connect-links`, and the pages the user's browser meets:
`/connect/{key}` (a link) and `/connect/users/{userId}/{signature}` (a user's reconnect link)
redirect to Aurinko's authorize page, `/connect/callback` is where Aurinko sends the user back.

Every refusal is a small page with a 4xx status and a reason (never a 500): the browser pages
take whatever query a client sends. The work is in `brightsync.connect`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, current_app, jsonify, redirect, render_template, request

from brightsync.config import Settings
from brightsync.connect import callback, links
from brightsync.connect.links import Choice, Refused
from brightsync.web import admin, schemas
from brightsync.web.common import error_answer, load_body, require_admin

bp = Blueprint("connect", __name__, template_folder="templates")


def _settings() -> Settings:
    return current_app.config["BRIGHTSYNC"]


@bp.post("/api/v1/orgs/<int:org_id>/connect-links")
@require_admin
def post_link(org_id: int) -> Any:
    data = load_body(schemas.ConnectLinkCreate())
    missing = links.configured(_settings())
    if missing:
        return error_answer(missing, 409)
    try:
        return jsonify(links.create_link(org_id, data)), 201
    except LookupError as exc:
        return error_answer(str(exc), 404)


def _with_query(url: str, values: dict[str, Any]) -> str:
    query = urlencode({k: v for k, v in values.items() if v is not None})
    return url + ("&" if urlsplit(url).query else "?") + query


def _page(status: int, title: str, message: str, tone: str = "", **extra: Any) -> Any:
    tone = tone or ("bad" if status >= 400 else "ok")
    html = render_template(
        "connect/page.html", status=status, tone=tone, title=title, message=message, **extra
    )
    return html, status, {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}


def _refused(refusal: Refused) -> Any:
    back = None
    if refusal.return_url:
        back = _with_query(refusal.return_url, {"status": "error", "reason": refusal.message})
    return _page(refusal.status, "Not connected", refusal.message, back=back)


def _opened(result: str | Choice) -> Any:
    if isinstance(result, Choice):
        who = f" for {result.email}" if result.email else ""
        return _page(
            200, "Connect your mailbox", f"Which mailbox{who}?", "ask", providers=result.types
        )
    return redirect(result, code=303)


def _asked_type() -> str | None:
    return request.args.get("serviceType") or None


@bp.get("/connect/<key>")
def open_link(key: str) -> Any:
    try:
        return _opened(links.open_link(key, _asked_type()))
    except Refused as refusal:
        return _refused(refusal)


@bp.get("/connect/users/<int:user_id>/<signature>")
def open_reconnect(user_id: int, signature: str) -> Any:
    try:
        return _opened(links.open_reconnect(user_id, signature, _asked_type()))
    except Refused as refusal:
        return _refused(refusal)


@bp.get("/connect/callback")
def aurinko_callback() -> Any:
    params = {key: request.args.get(key, "") for key in ("code", "state", "status", "error")}
    params["message"] = request.args.get("message", "")
    try:
        done = callback.handle(params, admin.create_user)
    except Refused as refusal:
        return _refused(refusal)
    if done.return_url:
        return redirect(
            _with_query(
                done.return_url,
                {
                    "status": "success",
                    "outcome": done.outcome,
                    "userId": done.user_id,
                    "email": done.email,
                },
            ),
            code=303,
        )
    if done.outcome == "reconnected":
        said = f"{done.email} is reconnected: its sync resumes where it stopped."
    else:
        said = f"{done.email} is connected: its first sync has started."
    return _page(200, "Mailbox connected", said + " You can close this page.")
