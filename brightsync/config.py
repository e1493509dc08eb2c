"""Settings from the environment (and a `.env` file), validated once at start-up.

Every public name here is documented (README.md, the interface list): renaming one
breaks deployments, so add, never rename.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from dotenv import load_dotenv
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_AURINKO_API_URL = "https://api.aurinko.io"


class ConfigError(ValueError):
    """A setting has a value the service cannot start with; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    broker_url: str
    redis_url: str | None
    aurinko_api_url: str
    aurinko_client_id: str | None
    aurinko_client_secret: str | None
    aurinko_signing_secret: str | None
    admin_token: str | None
    encryption_key: str | None
    public_url: str
    port: int
    webhook_tolerance_seconds: int = 300
    webhook_max_bytes: int = 1_000_000
    aurinko_rate_per_second: int = 250
    crm_rate_per_second: int = 20
    crm_timeout_seconds: int = 30  # read timeout of one CRM request (a lost answer after it)
    flower_basic_auth: str | None = None
    retry_base_seconds: int = 60
    lease_seconds: int = 60
    sweep_seconds: int = 30
    # The safety sync runs a service quiet this long; CRM deletions without a deleted feed
    # are found by comparison at most this often (sync/crm_deletions.py).
    safety_sync_seconds: int = 1800
    # One-address-per-call contact lookups one run may make (connectors taking no lists).
    crm_single_lookups: int = 200
    # A run writes the emails it owns on a page itself up to this many; more go to every
    # worker in tasks of at most this size (each costs one contact and one deal lookup).
    email_chunk: int = 20
    broker_poll_ms: int = 100
    # How long `brightsync run` gives its processes to stop on SIGTERM before killing them:
    # under the 10 s `docker stop` and most supervisors wait before their own SIGKILL.
    stop_grace_seconds: int = 8
    # auto: webhooks are buffered in Redis when Redis is the broker; database: always the
    # database path (answers "ignored" for unknown accounts at once, one transaction more).
    webhook_intake: str = "auto"
    # Plain-http CRM connectors on other hosts than loopback (a private network): off.
    allow_insecure_crm: bool = False
    # How long a connect link (POST /api/v1/orgs/{id}/connect-links) stays good.
    connect_link_hours: int = 72
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def encryption_keys(self) -> list[str]:
        """BRIGHTSYNC_ENCRYPTION_KEY as a list: the first encrypts, every one decrypts."""
        return _split_keys(self.encryption_key)

    @property
    def embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def broker_is_amqp(self) -> bool:
        return self.broker_url.startswith(("amqp://", "amqps://"))

    @property
    def broker_is_redis(self) -> bool:
        return self.broker_url.startswith(("redis://", "rediss://"))


def _int(env: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _bool(env: dict[str, str], name: str, default: bool = False) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {env.get(name)!r}")


def _split_keys(raw: str | None) -> list[str]:
    return [key.strip() for key in (raw or "").split(",") if key.strip()]


GENERATE_KEY_HINT = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'"
)


def _encryption_key(raw: str | None, database_url: str) -> str | None:
    """Validate BRIGHTSYNC_ENCRYPTION_KEY: comma-separated Fernet keys, the first encrypts.

    A server database is shared by every dyno and process, and a key generated per machine
    could not read what the others wrote: there the variable is required.
    """
    keys = _split_keys(raw)
    if not keys:
        if not database_url.startswith("sqlite"):
            raise ConfigError(
                "BRIGHTSYNC_ENCRYPTION_KEY must be set when DATABASE_URL is a server database: "
                "every process must share the key that encrypts stored tokens "
                f"(generate one with {GENERATE_KEY_HINT})"
            )
        return None
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError(
                f"BRIGHTSYNC_ENCRYPTION_KEY key #{position} is not a urlsafe-base64 32-byte "
                f"Fernet key (generate one with {GENERATE_KEY_HINT})"
            ) from None
    return ",".join(keys)


def _database_url(raw: str) -> str:
    # Heroku's add-on still hands out the pre-SQLAlchemy-1.4 scheme.
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            f"DATABASE_URL is not a database URL: {raw!r} "
            "(expected e.g. postgresql://user:pass@host:5432/db or sqlite:///path/file.db)"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"DATABASE_URL uses {url.get_backend_name()!r}; BrightSync supports sqlite and "
            "postgresql"
        )
    if url.get_backend_name() == "postgresql" and not url.database:
        raise ConfigError("DATABASE_URL names no database (…/dbname at the end)")
    if url.drivername == "postgresql":
        # SQLAlchemy 2.1 picks psycopg 3 for a bare scheme; we ship psycopg2.
        raw = "postgresql+psycopg2" + raw[len("postgresql") :]
    return raw


def _http_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _broker_url(raw: str) -> str:
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    known = ("redis", "rediss", "sqla+sqlite", "sqla+postgresql", "amqp", "amqps", "memory")
    if scheme not in known:
        raise ConfigError(
            f"CELERY_BROKER_URL has an unsupported scheme {scheme!r}: use redis://…, "
            "amqp://… or sqla+sqlite:///… (the embedded default)"
        )
    return raw


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read and validate settings; raise ConfigError with a readable message."""
    if env is None:
        load_dotenv(Path.cwd() / ".env", override=False)
        env = dict(os.environ)
    instance = Path(env.get("BRIGHTSYNC_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
    port = _int(env, "PORT", 5000, minimum=1)
    if port > 65535:
        raise ConfigError(f"PORT must be at most 65535, got {port}")

    database_url = _database_url(env.get("DATABASE_URL") or f"sqlite:///{instance}/brightsync.db")
    redis_url = env.get("REDIS_URL") or None
    broker = env.get("CELERY_BROKER_URL") or redis_url or f"sqla+sqlite:///{instance}/broker.db"
    broker = _broker_url(broker)
    if redis_url is None and broker.startswith(("redis://", "rediss://")):
        redis_url = broker

    public_url = env.get("BRIGHTSYNC_PUBLIC_URL") or f"http://localhost:{port}"
    return Settings(
        instance_path=instance,
        database_url=database_url,
        broker_url=broker,
        redis_url=redis_url,
        aurinko_api_url=_http_url(
            "AURINKO_API_URL", env.get("AURINKO_API_URL") or DEFAULT_AURINKO_API_URL
        ),
        aurinko_client_id=env.get("AURINKO_CLIENT_ID") or None,
        aurinko_client_secret=env.get("AURINKO_CLIENT_SECRET") or None,
        aurinko_signing_secret=env.get("AURINKO_SIGNING_SECRET") or None,
        admin_token=env.get("BRIGHTSYNC_ADMIN_TOKEN") or None,
        encryption_key=_encryption_key(env.get("BRIGHTSYNC_ENCRYPTION_KEY"), database_url),
        public_url=_http_url("BRIGHTSYNC_PUBLIC_URL", public_url),
        port=port,
        webhook_tolerance_seconds=_int(env, "BRIGHTSYNC_WEBHOOK_TOLERANCE", 300, minimum=1),
        webhook_max_bytes=_int(env, "BRIGHTSYNC_WEBHOOK_MAX_BYTES", 1_000_000, minimum=1024),
        aurinko_rate_per_second=_int(env, "AURINKO_RATE_PER_SECOND", 250, minimum=1),
        crm_rate_per_second=_int(env, "BRIGHTSYNC_CRM_RATE_PER_SECOND", 20, minimum=1),
        crm_timeout_seconds=_int(env, "BRIGHTSYNC_CRM_TIMEOUT", 30, minimum=1),
        flower_basic_auth=env.get("FLOWER_BASIC_AUTH") or None,
        retry_base_seconds=_int(env, "BRIGHTSYNC_RETRY_BASE_SECONDS", 60, minimum=1),
        lease_seconds=_int(env, "BRIGHTSYNC_LEASE_SECONDS", 60, minimum=5),
        sweep_seconds=_int(env, "BRIGHTSYNC_SWEEP_SECONDS", 30, minimum=1),
        safety_sync_seconds=_int(env, "BRIGHTSYNC_SAFETY_SYNC_SECONDS", 1800, minimum=1),
        crm_single_lookups=_int(env, "BRIGHTSYNC_CRM_SINGLE_LOOKUPS", 200, minimum=1),
        email_chunk=_int(env, "BRIGHTSYNC_EMAIL_CHUNK", 20, minimum=1),
        broker_poll_ms=_int(env, "BRIGHTSYNC_BROKER_POLL_MS", 100, minimum=10),
        stop_grace_seconds=_int(env, "BRIGHTSYNC_STOP_GRACE", 8, minimum=1),
        webhook_intake=_choice(env, "BRIGHTSYNC_WEBHOOK_INTAKE", ("auto", "database")),
        allow_insecure_crm=_bool(env, "BRIGHTSYNC_ALLOW_INSECURE_CRM"),
        connect_link_hours=_int(env, "BRIGHTSYNC_CONNECT_LINK_HOURS", 72, minimum=1),
    )


def broker_settings(settings: Settings) -> dict[str, object]:
    """Celery broker options for the configured broker."""
    # Redis redelivers a task nobody acknowledged within the visibility timeout. A worker
    # holds a task with a countdown unacknowledged until it runs, so the timeout must exceed
    # the longest countdown (claim retries cap at 30 min, run retries at 15) and the task
    # time limit (30 min), or Redis would hand out a second copy of a task still in hand.
    # Recovery from a killed worker does not wait for it: the sweepers republish lost work
    # from the database within a minute, and the late redelivery then finds nothing to do.
    from brightsync.broker import queue_settings

    options: dict[str, object] = {"visibility_timeout": 3600}
    if settings.broker_url.startswith("sqla+"):
        # How often an idle worker looks for new tasks in the embedded broker (kombu's own
        # default is 1 s); brightsync.broker strips it before kombu's create_engine() sees it.
        options = {"polling_interval": settings.broker_poll_ms / 1000}
    if settings.broker_is_amqp:
        # RabbitMQ acknowledges each publish once the queue has it (publisher confirms):
        # a task the web answered 202 for is never lost in a broker's buffer.
        options = {"confirm_publish": True}
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": options,
        **queue_settings(settings.broker_is_amqp),
    }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between apps)."""
    get_settings.cache_clear()
