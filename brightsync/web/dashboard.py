"""/dashboard: the operators' web page (server-rendered, light JavaScript, no outside assets).

Behind the admin token: the login form checks it and sets a signed session cookie whose
signing key is derived from the token, so every web process accepts it and changing the token
logs everyone out. Every action is a POST carrying the session's CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from brightsync.config import Settings
from brightsync.connect.links import reconnect_url
from brightsync.db import session_scope
from brightsync.domains import CACHE_KINDS, EXPLAINERS, ORG_PANELS
from brightsync.models import Organisation, User
from brightsync.ops import actions, runlog, status, why
from brightsync.review import held
from brightsync.review import mode as review_mode
from brightsync.review.duplicates import decide_possible_duplicate

bp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/dashboard",
    template_folder="templates",
    static_folder="static",
)

ACTIONS = ("sync", "pause", "resume", "resync")


def _settings() -> Settings:
    return current_app.config["BRIGHTSYNC"]


def _fingerprint(token: str) -> str:
    return hashlib.sha256(b"brightsync-dashboard-session:" + token.encode()).hexdigest()[:32]


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus their cost where no session is used: a request
    without the cookie (every webhook) gets an empty session without building the signer,
    and one that never touched it writes nothing."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # No Cookie header at all (every webhook): not even the cookie parser runs.
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ
            or not request.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified and not session.accessed:
            return  # nothing read, nothing to set or delete
        super().save_session(app, session, response)


def init_dashboard(app: Flask) -> None:
    settings: Settings = app.config["BRIGHTSYNC"]
    app.session_interface = CookieSessions()
    if not app.secret_key:
        # Same key in every process (derived, not random), and a new token voids old cookies.
        seed = (settings.admin_token or secrets.token_hex(32)).encode()
        app.secret_key = hashlib.sha256(b"brightsync-dashboard-key:" + seed).hexdigest()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = settings.public_url.startswith("https://")
    app.jinja_env.filters["short_time"] = _short_time
    app.register_blueprint(bp)


def _short_time(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "—"


def _logged_in() -> bool:
    token = _settings().admin_token
    given = session.get("admin", "")
    return bool(token) and hmac.compare_digest(str(given), _fingerprint(token))


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _logged_in():
            if request.path.endswith(".json"):
                return jsonify(error="log in first"), 401
            return redirect(url_for("dashboard.login", next=request.path))
        return view(*args, **kwargs)

    return wrapper


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, description="the form expired or did not come from this dashboard; reload it")


@bp.errorhandler(HTTPException)
def _error_page(exc: HTTPException) -> Any:
    # Pages answer errors as pages (the API keeps its JSON errors).
    return render_template("dashboard/error.html", error=exc), exc.code


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token}


def _safe_next(target: str | None) -> str:
    # Only paths of this dashboard: never an open redirect to another site.
    if target and target.startswith("/dashboard") and "//" not in target:
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        _check_csrf()
        token = _settings().admin_token
        given = request.form.get("token", "")
        if not token:
            error = "The dashboard is disabled until BRIGHTSYNC_ADMIN_TOKEN is set."
        elif given and hmac.compare_digest(given.encode(), token.encode()):
            session.clear()
            session["admin"] = _fingerprint(token)
            csrf_token()
            return redirect(_safe_next(request.form.get("next")))
        else:
            error = "That is not the admin token."
    return render_template(
        "dashboard/login.html", error=error, next=request.args.get("next", "")
    ), (401 if error else 200)


@bp.post("/logout")
def logout() -> Any:
    _check_csrf()
    session.clear()
    return redirect(url_for("dashboard.login"))


@bp.get("/")
@login_required
def index() -> Any:
    with session_scope() as s:
        orgs = status.overview(s)
    return render_template(
        "dashboard/index.html", orgs=orgs, chart=chart(runlog.series(None, hours=24, points=48))
    )


@bp.get("/orgs/<int:org_id>")
@login_required
def org(org_id: int) -> Any:
    with session_scope() as s:
        found = s.get(Organisation, org_id)
        if found is None:
            abort(404, description="organisation not found")
        summary = status.org_summary(s, found, ORG_PANELS, cache_limit=50)
        decisions = status.recent_decisions(s, org_id, 25)
        report = review_mode.report_for(s, org_id=org_id)
    return render_template(
        "dashboard/org.html",
        org=summary,
        decisions=decisions,
        report=report,
        chart=chart(runlog.series(org_id, hours=24, points=48)),
    )


def _user_view(user_id: int) -> dict[str, Any]:
    with session_scope() as s:
        user = s.get(User, user_id)
        if user is None:
            abort(404, description="user not found")
        org_row = s.get(Organisation, user.org_id)
        return {
            "id": user.id,
            "email": user.email,
            "orgId": user.org_id,
            "orgName": org_row.name if org_row else "",
            "paused": bool(user.paused),
            "mailbox": {"state": user.mailbox_state, "error": user.mailbox_error},
            "services": status.services_of(s, user),
            "reconnectUrl": reconnect_url(user) if user.mailbox_state != "ok" else None,
        }


@bp.get("/users/<int:user_id>")
@login_required
def user(user_id: int) -> Any:
    return render_template("dashboard/user.html", user=_user_view(user_id))


@bp.get("/users/<int:user_id>/status.json")
@login_required
def user_status(user_id: int) -> Any:
    return jsonify(_user_view(user_id))


@bp.post("/users/<int:user_id>/<action>")
@login_required
def user_action(user_id: int, action: str) -> Any:
    _check_csrf()
    if action not in ACTIONS:
        abort(404)
    service = request.form.get("service") or None
    try:
        if action == "sync":
            result = actions.sync_now(user_id, service)
            flash(f"Sync requested: {_pairs(result)}")
        elif action in ("pause", "resume"):
            actions.set_paused(user_id, service, action == "pause")
            flash(f"{(service or 'user').capitalize()} {action}d.")
        else:
            actions.resync(user_id, service)
            flash("Delta tokens cleared; a full re-read is queued (claims prevent doubles).")
    except actions.ActionError as exc:
        flash(exc.message, "error")
    except Exception:
        current_app.logger.exception("dashboard action %s failed", action)
        flash("The queue is unavailable; try again shortly.", "error")
    return redirect(url_for("dashboard.user", user_id=user_id))


@bp.post("/orgs/<int:org_id>/unmatched/<int:item_id>/retry")
@login_required
def retry_item(org_id: int, item_id: int) -> Any:
    _check_csrf()
    try:
        result = actions.retry_cache_item(org_id, item_id, CACHE_KINDS)
        flash("Matched: the item is being logged." if result["matched"] else "Still no contact.")
    except actions.ActionError as exc:
        flash(exc.message, "error")
    return redirect(url_for("dashboard.org", org_id=org_id) + "#cache")


@bp.post("/orgs/<int:org_id>/activate")
@login_required
def activate(org_id: int) -> Any:
    _check_csrf()
    try:
        result = review_mode.activate(org_id=org_id)
        flash(f"Live: {result['queued']} runs queued to do the reviewed work.")
    except (review_mode.ModeError, LookupError) as exc:
        flash(str(exc), "error")
    return redirect(url_for("dashboard.org", org_id=org_id))


@bp.post("/orgs/<int:org_id>/held/<int:link_id>/<any(approve, reject):decision>")
@login_required
def decide_held(org_id: int, link_id: int, decision: str) -> Any:
    _check_csrf()
    result = held.decide(org_id, [link_id], decision)
    if result["links"]:
        flash(f"Deletion {decision}d: the next run carries it out.")
    else:
        flash("That deletion is no longer held.", "error")
    return redirect(url_for("dashboard.org", org_id=org_id) + "#held")


@bp.post("/orgs/<int:org_id>/duplicates/<int:pair_id>/<any(approved, rejected):decision>")
@login_required
def decide_duplicate(org_id: int, pair_id: int, decision: str) -> Any:
    _check_csrf()
    with session_scope() as s:
        row = decide_possible_duplicate(s, org_id, pair_id, decision)
    if row is None:
        flash("No such pair in this organisation.", "error")
    else:
        flash("Marked the same person." if decision == "approved" else "Marked two people.")
    return redirect(url_for("dashboard.org", org_id=org_id) + "#duplicates")


@bp.get("/orgs/<int:org_id>/why/<kind>")
@login_required
def explain(org_id: int, kind: str) -> Any:
    key = request.args.get("key", "").strip()
    found = None
    error = None
    with session_scope() as s:
        org_row = s.get(Organisation, org_id)
        if org_row is None:
            abort(404, description="organisation not found")
        if kind not in EXPLAINERS:
            error = f"No explanations for {kind!r} in this version."
        elif key:
            found = why.explain(s, EXPLAINERS, org_id, kind, key)
            if found is None:
                error = f"Nothing is known of that {kind} in this organisation."
    return render_template(
        "dashboard/why.html",
        org={"id": org_id, "name": org_row.name},
        kind=kind,
        key=key,
        found=found,
        error=error,
        kinds=sorted(EXPLAINERS),
    )


def _pairs(result: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in result.items()) or "nothing to sync"


# --- charts -----------------------------------------------------------------------------------


def chart(points: list[runlog.Point], width: int = 720, height: int = 160) -> Markup:
    """Bars of records synced per slice with errors (failed runs and records) drawn over them:
    a self-contained SVG, readable without JavaScript."""
    pad_left, pad_bottom, pad_top = 40, 20, 10
    inner_w, inner_h = width - pad_left - 8, height - pad_bottom - pad_top
    n = max(1, len(points))
    peak = max([p.synced for p in points] + [p.errors + p.failed for p in points] + [1])
    slot = inner_w / n
    bars = []
    for i, p in enumerate(points):
        x = pad_left + i * slot
        label = f"{p.start:%H:%M} — {p.synced} synced, {p.errors} failed runs, {p.failed} failed"
        for value, cls, offset in ((p.synced, "synced", 0.1), (p.errors + p.failed, "err", 0.55)):
            if value:
                h = inner_h * value / peak
                bars.append(
                    f'<rect class="{cls}" x="{x + slot * offset:.1f}" '
                    f'y="{pad_top + inner_h - h:.1f}" width="{max(1.0, slot * 0.35):.1f}" '
                    f'height="{h:.1f}"><title>{escape(label)}</title></rect>'
                )
    ticks = []
    for i in range(0, n, max(1, n // 6)):
        x = pad_left + i * slot
        ticks.append(
            f'<text x="{x:.1f}" y="{height - 5}" class="tick">{points[i].start:%H:%M}</text>'
        )
    axis = (
        f'<line x1="{pad_left}" y1="{pad_top + inner_h}" x2="{width - 8}" '
        f'y2="{pad_top + inner_h}" class="axis"/>'
        f'<text x="4" y="{pad_top + 10}" class="tick">{peak}</text>'
        f'<text x="4" y="{pad_top + inner_h}" class="tick">0</text>'
    )
    total_synced = sum(p.synced for p in points)
    total_errors = sum(p.errors + p.failed for p in points)
    title = f"{total_synced} records synced, {total_errors} errors"
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" data-synced="{total_synced}" data-errors="{total_errors}">'
        f"<title>{escape(title)}</title>{axis}{''.join(bars)}{''.join(ticks)}</svg>"
    )
