"""The web process: Aurinko webhook intake, the admin API, health and metrics.

`create_app` is the only place that knows every blueprint; the blueprints share what they
have in common through `brightsync.web.common` and never import this package's factory.
"""

from __future__ import annotations

from flask import Flask

from brightsync.celery import celery_init_app
from brightsync.config import Settings, get_settings
from brightsync.ops.hooks import install_web
from brightsync.web import admin, connect, health, lifecycle_api, ops_api, review_api, webhooks
from brightsync.web.common import RowIdConverter, install_error_handlers
from brightsync.web.dashboard import init_dashboard
from brightsync.web.fastpath import WebhookFastPath
from brightsync.web.openapi import serve as openapi


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.url_map.converters["int"] = RowIdConverter
    app.config["BRIGHTSYNC"] = settings
    # Werkzeug refuses larger bodies with 413 before any of our code reads them.
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    celery_init_app(app)

    app.register_blueprint(webhooks.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(lifecycle_api.bp)
    app.register_blueprint(connect.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(ops_api.bp)
    app.register_blueprint(review_api.bp)
    app.register_blueprint(health.bp)
    init_dashboard(app)
    install_web(app)
    install_error_handlers(app)
    # The webhook is answered before Flask's request machinery; the rest passes through.
    app.wsgi_app = WebhookFastPath(app.wsgi_app, settings, settings.webhook_max_bytes)  # type: ignore[method-assign]
    return app
