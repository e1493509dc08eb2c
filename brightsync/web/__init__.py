"""The web process: Aurinko webhook intake, the admin API, health and metrics."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from kombu.exceptions import OperationalError as BrokerUnavailable
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from brightsync.celery import celery_init_app
from brightsync.config import Settings, get_settings

log = logging.getLogger(__name__)

# Row ids are INTEGER columns (32-bit on PostgreSQL): a larger number in a URL names nothing.
MAX_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """`<int:…>` in every route: at most MAX_ID, so an absurd id is a 404, not a driver error."""

    def __init__(self, map, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.url_map.converters["int"] = RowIdConverter
    app.config["BRIGHTSYNC"] = settings
    # Werkzeug refuses larger bodies with 413 before any of our code reads them.
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    celery_init_app(app)

    from brightsync.ops.hooks import install_web
    from brightsync.web.admin import bp as admin_bp
    from brightsync.web.dashboard import init_dashboard
    from brightsync.web.health import bp as health_bp
    from brightsync.web.ops_api import bp as ops_api_bp
    from brightsync.web.review_api import bp as review_api_bp
    from brightsync.web.webhooks import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(ops_api_bp)
    app.register_blueprint(review_api_bp)
    app.register_blueprint(health_bp)
    init_dashboard(app)
    install_web(app)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        return jsonify(error=exc.name, message=exc.description), exc.code

    @app.errorhandler(BrokerUnavailable)
    def _broker_down(exc: BrokerUnavailable):  # type: ignore[no-untyped-def]
        # An expected outage, not a bug: every action that queues work (sync now, resume,
        # re-sync, ...) answers 503 and the caller retries; one log line, no traceback.
        log.warning("broker unavailable: %s", exc)
        return jsonify(error="queue unavailable; retry later", reason=str(exc)[:200]), 503

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        # Logged with its traceback for operators; the client sees no internals.
        log.exception("unhandled error")
        return jsonify(error="Internal Server Error", message="unexpected error; see logs"), 500

    return app
