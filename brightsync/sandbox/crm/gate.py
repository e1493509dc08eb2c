"""What happens to every API request of the reference CRM around its handler: counted, held by
the latency setting, maybe failed on purpose, credentials checked; and afterwards a fault that
spoils the answer of a request already carried out, and the status count."""

from __future__ import annotations

import hmac
import time
from typing import Any

from flask import Flask, Response, g, jsonify, request

from brightsync.sandbox.crm.faults import MAX_FAULT_DELAY, Fault
from brightsync.sandbox.crm.state import Settings, broken, crm
from brightsync.sandbox.server import network_latency


def authorised(settings: Settings) -> bool:
    """Whether the request carries this connector's credentials (or needs none)."""
    token, basic = settings.token, settings.basic
    if broken("no_auth") or (token is None and basic is None):
        return True
    header = request.headers.get("Authorization", "")
    if token is not None and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    auth = request.authorization
    if basic is not None and auth is not None and auth.type == "basic":
        return hmac.compare_digest(
            f"{auth.username}:{auth.password}".encode(), f"{basic[0]}:{basic[1]}".encode()
        )
    return False


def before_api_request() -> Any:
    """Count the request, hold it, maybe fail it; None lets its handler answer."""
    if not request.path.startswith("/api/"):
        return None
    connector = crm()
    control = connector.control
    if request.method == "OPTIONS":
        control.count("options", "OPTIONS")
    else:
        control.count(request.endpoint or "unrouted", request.method)
    network_latency(control.latency_ms)  # outside the lock: concurrent requests overlap
    if request.method == "OPTIONS" and broken("no_options"):
        return {"error": "method_not_allowed", "message": "no OPTIONS here"}, 405
    fault = control.take_fault()
    if fault is not None and fault.after_write:
        g.after_write_fault = fault  # handled first; its answer is spoilt afterwards
    elif fault is not None:
        if fault.delay:
            time.sleep(min(fault.delay, MAX_FAULT_DELAY))
        if fault.status:
            message = fault.message or f"injected fault: {fault.status}"
            response = jsonify({"error": "injected", "message": message})
            response.status_code = fault.status
            if fault.retry_after is not None:
                response.headers["Retry-After"] = fault.retry_after
            return response
    if not authorised(connector.settings):
        response = jsonify({"error": "unauthorized", "message": "missing or wrong credentials"})
        response.status_code = 401
        token = connector.settings.token
        response.headers["WWW-Authenticate"] = 'Bearer realm="crm"' if token else "Basic"
        return response
    return None


def after_request(response: Response) -> Response:
    """Spoil the answer of an after-write fault; count the status of every API answer."""
    fault: Fault | None = g.pop("after_write_fault", None)
    if fault is not None:
        # The work is done (a create is stored): now the answer is lost on the way.
        if fault.delay:
            time.sleep(min(fault.delay, MAX_FAULT_DELAY))
        if fault.status:
            message = fault.message or f"injected fault after the write: {fault.status}"
            response = jsonify({"error": "injected", "message": message})
            response.status_code = fault.status
    if request.path.startswith("/api/"):
        crm().control.count_status(response.status_code)
    return response


def register_gate(app: Flask) -> None:
    app.before_request(before_api_request)
    app.after_request(after_request)
