"""Every /v1 request passes here before and after its route: it is counted and logged
(under the operation name its route registered in OPERATIONS), held for the configured
latency, perhaps failed or delayed by an injected fault (or, with `afterWrite`, carried out
and then its answer failed or held: a lost answer), and authenticated; failures answer in
Aurinko's error shape.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from brightsync.sandbox.aurinko.accounts import authenticate, authenticate_app, identify
from brightsync.sandbox.aurinko.records import ApiFailure
from brightsync.sandbox.aurinko.state import AurinkoSimulator
from brightsync.sandbox.aurinko.traffic import (
    fault_failure,
    record_request,
    record_status,
    take_fault,
)
from brightsync.sandbox.server import network_latency

# Flask endpoint -> operation name used by the statistics (GET /_control/stats).
OPERATIONS: dict[str, str] = {}


def failure_response(failure: ApiFailure) -> Response:
    response = jsonify(failure.body())
    response.status_code = failure.status
    response.headers.update(failure.headers)
    return response


def register_intake(app: Flask, sim: AurinkoSimulator) -> None:
    @app.before_request
    def _intake() -> Any:
        if not request.path.startswith("/v1/"):
            return None
        op = OPERATIONS.get(request.endpoint or "", "unknown")
        account_id = identify(sim, request.headers)
        body = request.get_json(silent=True) if request.content_length else None
        g.entry = record_request(
            sim,
            op,
            account_id,
            request.method,
            request.path,
            request.args.to_dict(flat=False),
            body,
        )
        network_latency(sim.latency_ms)  # outside the simulator's lock: requests overlap
        fault = take_fault(sim, request.path, request.method, account_id)
        if fault is not None and fault.after_write:
            g.after_write_fault = fault  # carried out first; its answer is spoilt afterwards
        elif fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                return failure_response(fault_failure(fault))
        if op == "auth.authorize":  # the user's browser: no credentials
            return None
        if op == "auth.token":
            g.client_id = authenticate_app(sim, request.headers)
            return None
        g.account = authenticate(sim, request.headers, allow_dead=op == "account.get")
        return None

    @app.after_request
    def _outcome(response: Response) -> Response:
        fault = g.pop("after_write_fault", None)
        if fault is not None:
            # The write is done (a create is stored): now its answer is lost on the way.
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                response = failure_response(fault_failure(fault))
        entry = g.get("entry")
        if entry is not None:
            record_status(sim, entry, response.status_code)
        return response

    @app.errorhandler(ApiFailure)
    def _failure(exc: ApiFailure) -> Response:
        return failure_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if not request.path.startswith("/v1/"):
            return exc
        code = {404: "notFound", 405: "methodNotAllowed"}.get(exc.code or 500, "badRequest")
        return failure_response(ApiFailure(exc.code or 500, code, exc.description or code))
