"""Settings: defaults for the embedded run, readable errors for bad values."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from brightsync.config import ConfigError, load_settings

KEY = {"BRIGHTSYNC_ENCRYPTION_KEY": "kR7y0L9b3o2S1mW6dQq1vN8d8V3Gm0sH5bq2yJ8xY0c="}


def test_embedded_defaults(tmp_path):
    s = load_settings({"BRIGHTSYNC_INSTANCE_PATH": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path}/brightsync.db"
    assert s.broker_url == f"sqla+sqlite:///{tmp_path}/broker.db"
    assert s.redis_url is None
    assert s.embedded
    assert s.public_url == "http://localhost:5000"
    assert s.aurinko_api_url == "https://api.aurinko.io"


def test_redis_url_is_the_broker_when_no_broker_is_set():
    s = load_settings(
        {"REDIS_URL": "redis://cache:6379/3", "DATABASE_URL": "postgres://u@h/db", **KEY}
    )
    assert s.broker_url == "redis://cache:6379/3"
    assert s.redis_url == "redis://cache:6379/3"
    # Heroku's scheme is rewritten for SQLAlchemy.
    assert s.database_url == "postgresql+psycopg2://u@h/db"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a database URL"),
        ({"DATABASE_URL": "mysql://h/db"}, "supports sqlite and postgresql"),
        ({"DATABASE_URL": "postgresql://h"}, "names no database"),
        ({"PORT": "eighty"}, "PORT must be a whole number"),
        ({"PORT": "70000"}, "at most 65535"),
        ({"CELERY_BROKER_URL": "kafka://x"}, "unsupported scheme"),
        ({"AURINKO_API_URL": "ftp://x"}, "AURINKO_API_URL must be an http(s) URL"),
    ],
)
def test_bad_values_are_named(env, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_settings(env)


def test_cli_reports_a_bad_setting_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "brightsync", "db", "upgrade"],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "nonsense", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "configuration error: DATABASE_URL is not a database URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_retry_countdown_is_well_under_the_redis_visibility_timeout():
    from brightsync.config import broker_settings
    from brightsync.email.outcomes import RETRY_CAP
    from brightsync.sync.jobs import MAX_RETRY_COUNTDOWN

    options = broker_settings(load_settings({"REDIS_URL": "redis://h:6379/0"}))
    visibility = options["broker_transport_options"]["visibility_timeout"]
    assert RETRY_CAP.total_seconds() <= visibility / 2
    assert MAX_RETRY_COUNTDOWN <= visibility / 2
