"""Where operations plug into the running product: HTTP clients, Celery signals, the web app.

Installed once per process (the worker imports brightsync.ops.jobs, the web app and the CLI
call `install`); nothing here changes what the work does, only what is counted and logged.
"""

from __future__ import annotations

import atexit
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from brightsync.ops import logs, metrics

log = logging.getLogger(__name__)

SYNC_TASK = "brightsync.sync.run"
# Tasks that finish records outside a run and return their counters: task name -> service.
RECORD_TASKS = {"brightsync.email.process_claims": "email"}
_installed = False
_started: dict[str, tuple[float, Any]] = {}  # task id -> (start, log context token)


def _api_call(client: Any, method: str, status: int | None) -> None:
    name = type(client).__name__.lower()
    api = "aurinko" if name.startswith("aurinko") else "crm"
    host = urlsplit(getattr(client, "base_url", "")).netloc or "unknown"
    metrics.api_call(api, host, status)


def run_finished(
    user_id: int,
    service: str,
    result: dict[str, Any] | None,
    error: BaseException | None,
    seconds: float,
) -> None:
    """Count one finished run and add it to the time series (tasks and the CLI call this)."""
    status = (result or {}).get("status")
    if error is None and status == "busy":
        return  # not a run: it waits behind the one holding the lease
    if error is not None:
        outcome = "error"
    elif status == "ok":
        outcome = "ok"
    elif status == "reauth_required":
        outcome = "reauth_required"
    else:
        outcome = str(status or "unknown").replace(" ", "_")
    counters = dict((result or {}).get("counters") or {})
    metrics.record_run(service, outcome, seconds, counters)
    if outcome in ("ok", "error", "reauth_required"):
        from brightsync.ops import runlog

        try:
            runlog.record(
                user_id, service, error=outcome != "ok", seconds=seconds, counters=counters
            )
        except Exception:  # noqa: BLE001 - the chart may miss a run; the run itself stands
            log.warning("could not record the run in the time series", exc_info=True)


def _sync_args(args: Any, kwargs: Any) -> tuple[int, str] | None:
    try:
        if args and len(args) >= 2:
            return int(args[0]), str(args[1])
        return int(kwargs["user_id"]), str(kwargs["service"])
    except (KeyError, TypeError, ValueError):
        return None


def _org_of(user_id: int) -> int | None:
    """The user's organisation, for the log context (one primary-key read per run)."""
    try:
        from brightsync.db import session_scope
        from brightsync.models import User

        with session_scope() as s:
            user = s.get(User, user_id)
            return user.org_id if user is not None else None
    except Exception:  # noqa: BLE001 - a log field is not worth failing a task over
        return None


def _task_prerun(
    task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, **_: Any
) -> None:
    ids: dict[str, Any] = {"task_id": task_id}
    target = _sync_args(args, kwargs) if task is not None and task.name == SYNC_TASK else None
    if target is not None:
        ids.update(user_id=target[0], service=target[1], org_id=_org_of(target[0]))
    _started[task_id or ""] = (time.monotonic(), logs.bind(**ids))


def _task_postrun(
    task_id: str | None = None,
    task: Any = None,
    args: Any = None,
    kwargs: Any = None,
    retval: Any = None,
    state: str | None = None,
    **_: Any,
) -> None:
    started, token = _started.pop(task_id or "", (time.monotonic(), None))
    try:
        if task is not None and task.name == SYNC_TASK:
            target = _sync_args(args, kwargs)
            if target is not None:
                seconds = time.monotonic() - started
                if isinstance(retval, BaseException):
                    # A retry without a cause is the "busy, wait behind the lease" case.
                    cause = getattr(retval, "exc", retval) if state == "RETRY" else retval
                    if cause is not None:
                        run_finished(*target, None, cause, seconds)
                elif isinstance(retval, dict):
                    run_finished(*target, retval, None, seconds)
        elif task is not None and task.name in RECORD_TASKS and isinstance(retval, dict):
            metrics.record_outcomes(RECORD_TASKS[task.name], retval)
    finally:
        metrics.flush()
        if token is not None:
            try:
                logs.unbind(token)
            except ValueError:
                pass  # bound in another context (eventlet/gevent pools): nothing to undo


def _setup_logger(logger: logging.Logger | None = None, **_: Any) -> None:
    logs.configure(logger=logger)


def install() -> None:
    """Register the HTTP observer and the Celery signal handlers (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    from celery import signals

    from brightsync.clients import http

    http.observers.append(_api_call)
    atexit.register(metrics.flush)
    signals.task_prerun.connect(_task_prerun, weak=False)
    signals.task_postrun.connect(_task_postrun, weak=False)
    signals.after_setup_logger.connect(_setup_logger, weak=False)
    signals.after_setup_task_logger.connect(_setup_logger, weak=False)
    signals.worker_process_shutdown.connect(lambda **_: metrics.flush(), weak=False)
    signals.worker_shutdown.connect(lambda **_: metrics.flush(), weak=False)


# --- the web app ------------------------------------------------------------------------------

WEBHOOK_REJECTIONS = {400: "invalid", 401: "unauthorized", 413: "too_large", 503: "unavailable"}


def webhook_outcome(status: int, body: Any) -> tuple[str, str]:
    """("received", outcome) or ("rejected", reason) for an answer of the webhook endpoint."""
    if status < 300:
        outcome = body.get("status") if isinstance(body, dict) else None
        return "received", str(outcome or "handshake")
    if status == 401 and isinstance(body, dict) and body.get("error"):
        return "rejected", _slug(str(body["error"]))
    return "rejected", WEBHOOK_REJECTIONS.get(status, f"http_{status}")


def _slug(reason: str) -> str:
    # signing.verify's reasons are a short fixed list; keep the label readable and bounded.
    words = "".join(c if c.isalnum() else " " for c in reason.lower()).split()
    return "_".join(words[:5])[:60] or "unauthorized"


def install_web(app: Any) -> None:
    from flask import g, request

    install()
    logs.configure()

    @app.before_request
    def _request_ids() -> None:
        rid = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
        g.brightsync_request_id = rid
        g.brightsync_log_token = logs.bind(request_id=rid)

    @app.after_request
    def _count(response: Any) -> Any:
        if request.endpoint == "webhooks.receive":
            # An accepted webhook names its outcome; only the rest is read from the answer.
            accepted = g.pop("brightsync_webhook_outcome", None)
            if accepted is not None and response.status_code < 300:
                kind, label = "received", accepted
            else:
                body = response.get_json(silent=True) if response.is_json else None
                kind, label = webhook_outcome(response.status_code, body)
            if kind == "received":
                metrics.inc("brightsync_webhooks_received_total", {"outcome": label})
            else:
                metrics.inc("brightsync_webhooks_rejected_total", {"reason": label})
        rid = g.get("brightsync_request_id")
        if rid:
            response.headers["X-Request-ID"] = rid
        # A gunicorn worker may serve nothing more for a while: its counts go out within
        # seconds (a timer), not a store round trip on every request.
        metrics.flush_soon()
        return response

    @app.teardown_request
    def _teardown(_exc: BaseException | None) -> None:
        token = g.pop("brightsync_log_token", None)
        if token is not None:
            try:
                logs.unbind(token)
            except ValueError:
                pass
