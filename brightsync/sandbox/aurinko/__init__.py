"""A faithful Aurinko simulator: `brightsync sandbox aurinko --port N`, the demo, tests, benchmarks.

    app = create_aurinko_app(signing_secret="s3cret", page_size=50)
    server = ServerThread(app).start()            # brightsync.sandbox.server
    control = SandboxControl(server.url)          # the /_control API
    account = control.add_account("ann@acme.test", provider="google")
    # AurinkoClient.for_account(server.url, account["accessToken"]) now works as against
    # https://api.aurinko.io

Modules: `model` (the data: records with change stamps, accounts, sync cursors), `state`
(AurinkoSimulator: the one lock, the settings and the shared tables, storing a change), and
per resource the operations on it, each under that lock: `accounts` (accounts and
credentials), `mail` (delivery and messages), `items` (events, contacts, tasks), `meetings`
(a meeting's copies across calendars), `delta` (delta sync), `subscriptions`, `traffic`
(statistics, request log, faults), `auth` (the OAuth flow: authorize page, code
exchange). `records` (shapes of the OpenAPI schemas), `intake` (what
every /v1 request goes through), `api` (the /v1 routes), `control` (the /_control routes),
`webhooks` (handshake and notifications, fed by the core), `remote` (SandboxControl, a client
of /_control, and WebhookRecorder).

Fidelity notes (where Aurinko's documentation is silent the simulator picks the strict or
the documented-example behaviour): answers carry only documented properties and never null;
creates answer 201 and POST /v1/subscriptions 200; PATCH of events and contacts requires
If-Match (the OpenAPI marks it required), tasks take it optionally; a stale etag answers 412;
GET /v1/account still answers (with tokenStatus) for a dead token; a dead sync token answers
410 syncToken.expired or 400 token.notValid as set per account; deleted-record runs start at
the moment of the start call; the validation handshake POSTs an empty text/plain body.
"""

from __future__ import annotations

import os

from flask import Flask

from brightsync.sandbox.aurinko.api import register_api
from brightsync.sandbox.aurinko.control import register_control
from brightsync.sandbox.aurinko.remote import SandboxControl, WebhookRecorder
from brightsync.sandbox.aurinko.state import AurinkoSimulator

__all__ = [
    "AurinkoSimulator",
    "SandboxControl",
    "WebhookRecorder",
    "create_aurinko_app",
    "serve",
    "simulator_of",
]

EXTENSION = "aurinko_simulator"


def create_aurinko_app(
    *,
    signing_secret: str | None = None,
    client_id: str = "sandbox-client",
    client_secret: str = "sandbox-secret",
    page_size: int = 50,
    webhook_debounce: float = 0.05,
    webhook_attempts: int = 3,
    webhook_retry_delay: float = 0.2,
    latency_ms: float = 0.0,
) -> Flask:
    """The simulator as a Flask app; its state lives in memory (see `simulator_of(app)`).

    `latency_ms` holds every /v1 answer that long, as the real API across a network does
    (also `POST /_control/settings {"latencyMs": 50}`)."""
    sim = AurinkoSimulator(
        signing_secret=signing_secret,
        client_id=client_id,
        client_secret=client_secret,
        page_size=page_size,
        webhook_debounce=webhook_debounce,
        webhook_attempts=webhook_attempts,
        webhook_retry_delay=webhook_retry_delay,
        latency_ms=latency_ms,
    )
    app = Flask("brightsync.sandbox.aurinko")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = sim
    register_api(app, sim)
    register_control(app, sim)
    return app


def simulator_of(app: Flask) -> AurinkoSimulator:
    return app.extensions[EXTENSION]


def serve(
    port: int = 8765,
    host: str = "127.0.0.1",
    *,
    signing_secret: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    latency_ms: float = 0.0,
) -> None:
    """Run the simulator in the foreground (for `brightsync sandbox aurinko --port N`).

    Credentials default to AURINKO_SIGNING_SECRET / AURINKO_CLIENT_ID / AURINKO_CLIENT_SECRET
    so a BrightSync configured from the same environment talks to it unchanged.
    """
    from werkzeug.serving import run_simple

    app = create_aurinko_app(
        signing_secret=signing_secret or os.environ.get("AURINKO_SIGNING_SECRET") or None,
        client_id=client_id or os.environ.get("AURINKO_CLIENT_ID") or "sandbox-client",
        client_secret=client_secret or os.environ.get("AURINKO_CLIENT_SECRET") or "sandbox-secret",
        latency_ms=latency_ms,
    )
    run_simple(host, port, app, threaded=True, use_reloader=False)
