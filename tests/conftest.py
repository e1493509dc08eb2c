"""Shared fixtures: the backends, a real Celery worker process, the app, the simulators.

Integration tests take the `stack` fixture and run on the embedded default (SQLite + the
serverless SQLAlchemy broker), on PostgreSQL + Redis and on PostgreSQL + RabbitMQ (+ Redis for
coordination); BRIGHTSYNC_TEST_ALL_BROKERS=0 keeps RabbitMQ to the broker-sensitive modules
(workers, crashes, faults, intake, queues: BROKER_SENSITIVE) for a quicker local run. Each
run makes its own database, Redis db number and RabbitMQ vhost and removes them afterwards.
Under CI=true a missing service fails the run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("BRIGHTSYNC_TEST_PG", "postgresql+psycopg2://127.0.0.1:5432/test")
REDIS_ADMIN_URL = os.environ.get("BRIGHTSYNC_TEST_REDIS", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("BRIGHTSYNC_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")
# Vhosts are made through the management API when it runs, else through rabbitmqctl.
RABBITMQ_API = os.environ.get("BRIGHTSYNC_TEST_RABBITMQ_API", "http://127.0.0.1:15672")
SIGNING_SECRET = "test-signing-secret"
ADMIN_TOKEN = "test-admin-token"
CRM_TOKEN = "sandbox-crm-token"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} unavailable: {exc}"
    if IN_CI:
        pytest.fail(message + " (CI=true: integration services are required)")
    pytest.skip(message)


def apply_env(env: dict[str, str]) -> None:
    """Make this process use `env` (settings, engine, coordinator, keys, Celery broker)."""
    from brightsync.process import reset_process_state

    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(key, None)
    os.environ.update(env)
    reset_process_state()


@dataclass
class Backend:
    name: str
    env: dict[str, str]
    workdir: Path
    cleanups: list = field(default_factory=list)


def _make_postgres(workdir: Path) -> tuple[str, object]:
    import sqlalchemy as sa

    try:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        _unavailable("PostgreSQL", exc)
    name = f"brightsync_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def _make_redis() -> tuple[str, object]:
    import redis

    try:
        probe = redis.Redis.from_url(REDIS_ADMIN_URL, socket_connect_timeout=2)
        probe.ping()
    except Exception as exc:  # noqa: BLE001
        _unavailable("Redis", exc)
    # Claim an empty db number with a marker so parallel runs never share one.
    marker = f"brightsync-test-{uuid.uuid4().hex}"
    base = REDIS_ADMIN_URL.rsplit("/", 1)[0]
    for number in range(1, 16):
        url = f"{base}/{number}"  # the URL's path wins over a db= argument in redis-py
        client = redis.Redis.from_url(url)
        if client.set("brightsync:test-owner", marker, nx=True, ex=3600) and client.dbsize() == 1:
            return url, lambda c=client: c.flushdb()
        if client.get("brightsync:test-owner") == marker.encode():
            client.delete("brightsync:test-owner")
    _unavailable("Redis", RuntimeError("no free db number in 1..15"))
    raise AssertionError  # unreachable


def _rabbitmq_vhost(action: str, vhost: str) -> None:
    """Add or delete a vhost: the management API if it answers, else rabbitmqctl."""
    parts = urlsplit(RABBITMQ_URL)
    user, password = parts.username or "guest", parts.password or "guest"
    url = f"{RABBITMQ_API}/api/vhosts/{quote(vhost, safe='')}"
    try:
        r = requests.request(
            "PUT" if action == "add" else "DELETE", url, auth=(user, password), timeout=5
        )
        if r.status_code < 300 or (action == "delete" and r.status_code == 404):
            return
        raise RuntimeError(f"management API answered {r.status_code}: {r.text[:200]}")
    except requests.ConnectionError:
        pass
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        raise RuntimeError("neither the management API nor rabbitmqctl is available")
    commands = [[ctl, f"{action}_vhost", vhost]]
    if action == "add":
        commands.append([ctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*"])
    for cmd in commands:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def _make_rabbitmq() -> tuple[str, object]:
    """A vhost of its own on the local RabbitMQ (parallel runs declare the same queue names)."""
    from kombu import Connection

    try:
        with Connection(RABBITMQ_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        vhost = f"brightsync-test-{uuid.uuid4().hex[:10]}"
        _rabbitmq_vhost("add", vhost)
    except Exception as exc:  # noqa: BLE001
        _unavailable("RabbitMQ", exc)
    return f"{RABBITMQ_URL.rstrip('/')}/{vhost}", lambda: _rabbitmq_vhost("delete", vhost)


def make_backend(name: str) -> Backend:
    workdir = Path(tempfile.mkdtemp(prefix=f"brightsync-{name}-"))
    env = {
        "BRIGHTSYNC_INSTANCE_PATH": str(workdir / "instance"),
        "AURINKO_SIGNING_SECRET": SIGNING_SECRET,
        "BRIGHTSYNC_ADMIN_TOKEN": ADMIN_TOKEN,
        "BRIGHTSYNC_ENCRYPTION_KEY": "kR7y0L9b3o2S1mW6dQq1vN8d8V3Gm0sH5bq2yJ8xY0c=",
        "BRIGHTSYNC_RETRY_BASE_SECONDS": "1",
        "BRIGHTSYNC_METRICS_GAUGE_SECONDS": "0",  # every scrape re-counts: tests read at once
        # The bundled simulator's app credentials (its defaults): the connect flow uses them.
        "AURINKO_CLIENT_ID": "sandbox-client",
        "AURINKO_CLIENT_SECRET": "sandbox-secret",
    }
    backend = Backend(name=name, env=env, workdir=workdir)
    if name == "embedded":
        env["DATABASE_URL"] = f"sqlite:///{workdir}/brightsync.db"
        env["CELERY_BROKER_URL"] = f"sqla+sqlite:///{workdir}/broker.db"
    else:
        db_url, drop = _make_postgres(workdir)
        backend.cleanups.append(drop)
        redis_url, flush = _make_redis()
        backend.cleanups.append(flush)
        env["DATABASE_URL"] = db_url
        env["REDIS_URL"] = redis_url
        env["CELERY_BROKER_URL"] = redis_url
        if name == "rabbitmq":  # RabbitMQ the broker, Redis still locks, budgets and caches
            amqp_url, drop_vhost = _make_rabbitmq()
            backend.cleanups.append(drop_vhost)
            env["CELERY_BROKER_URL"] = amqp_url
    return backend


def destroy_backend(backend: Backend) -> None:
    from brightsync import db
    from brightsync.ops import metrics

    db.reset_engine()
    # Counts still buffered belong to the store about to go: flushed later (a timer, atexit)
    # they would leave a key in a Redis db number this run no longer owns, and a db holding
    # a stray key is never claimed again by a later run.
    metrics.discard_pending()
    for cleanup in reversed(backend.cleanups):
        try:
            cleanup()
        except Exception as exc:  # noqa: BLE001
            print(f"cleanup of {backend.name} failed: {exc}", file=sys.stderr)
    shutil.rmtree(backend.workdir, ignore_errors=True)


class WorkerProcess:
    """`celery -A brightsync worker` as a real OS process, with its log kept for assertions."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str, concurrency: int = 2):
        self.log_path = workdir / f"{name}.log"
        self.name = name
        from brightsync.process import worker_command

        cmd = worker_command(concurrency, name=name)
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=full_env,
            stdout=open(self.log_path, "w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if "ready." in self.log():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker did not become ready:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass
class Stack:
    """One backend with its schema, simulators, the web app served over HTTP, and a worker."""

    backend: Backend
    aurinko_url: str
    crm_url: str
    web_url: str
    worker: WorkerProcess | None = None
    extra_workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return self.backend.env

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **kwargs.pop("headers", {})}
        return requests.request(method, self.web_url + path, headers=headers, timeout=30, **kwargs)

    def start_worker(self, name: str = "w1", concurrency: int = 2) -> WorkerProcess:
        worker = WorkerProcess(self.env, self.backend.workdir, name, concurrency)
        self.extra_workers.append(worker)
        return worker

    def aurinko(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.aurinko_url + path, timeout=30, **kwargs)

    def crm(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {CRM_TOKEN}", **kwargs.pop("headers", {})}
        return requests.request(method, self.crm_url + path, headers=headers, timeout=30, **kwargs)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = ""):
    """Poll until predicate() is truthy; return its value or fail with `message`."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s: {message} (last: {last!r})")


BACKENDS = ["embedded", "postgres", "rabbitmq"]
# Test modules that run on RabbitMQ even in a quick run (BRIGHTSYNC_TEST_ALL_BROKERS=0): where
# the broker makes a difference (workers and their crashes, infrastructure faults, the webhook
# intake, queues and hand-overs). By default the whole integration suite runs on all three.
BROKER_SENSITIVE = {
    "tests/email/test_crash_recovery.py",
    "tests/email/test_share_out.py",
    "tests/sync/test_infrastructure_faults.py",
    "tests/sync/test_intake.py",
    "tests/sync/test_leases.py",
    "tests/sync/test_redis_loss.py",
    "tests/sync/test_safety_sync.py",
    "tests/ops/test_sync_now_stuck.py",
    "tests/cli/test_stop.py",
    "tests/test_broker.py",
    "tests/web/test_webhooks.py",
}
ALL_BROKERS = os.environ.get("BRIGHTSYNC_TEST_ALL_BROKERS", "1").lower() not in ("0", "false", "no")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> Iterator[Backend]:
    be = make_backend(request.param)
    saved = dict(os.environ)
    apply_env(be.env)
    from brightsync.migrate import upgrade

    upgrade()
    yield be
    destroy_backend(be)
    os.environ.clear()
    os.environ.update(saved)


@contextmanager
def running_stack(backend: Backend, *, worker: bool = True) -> Iterator[Stack]:
    """Simulators and the web app on threads of this process, and (optionally) a worker."""
    from brightsync.sandbox.aurinko import create_aurinko_app
    from brightsync.sandbox.crm import create_crm_app
    from brightsync.sandbox.server import DeferredApp, ServerThread
    from brightsync.web import create_app

    aurinko = ServerThread(create_aurinko_app(signing_secret=SIGNING_SECRET)).start()
    crm = ServerThread(create_crm_app(token=CRM_TOKEN)).start()
    # Subscriptions are built from the public URL, so bind the web server first, then build
    # the app with that URL; the server dispatches to the app once it exists.
    deferred = DeferredApp()
    web = ServerThread(deferred)
    backend.env["AURINKO_API_URL"] = aurinko.url
    backend.env["BRIGHTSYNC_PUBLIC_URL"] = web.url
    apply_env(backend.env)
    deferred.app = create_app()
    web.start()
    st = Stack(backend=backend, aurinko_url=aurinko.url, crm_url=crm.url, web_url=web.url)
    try:
        if worker:
            st.worker = WorkerProcess(backend.env, backend.workdir, "main")
        yield st
    finally:
        for w in [st.worker, *st.extra_workers]:
            if w is not None:
                w.stop()
        web.stop()
        crm.stop()
        aurinko.stop()


@pytest.fixture(scope="session")
def stack(backend: Backend) -> Iterator[Stack]:
    with running_stack(backend) as st:
        yield st


def reset_stack(stack: Stack) -> None:
    """Empty the simulators, every BrightSync table and our Redis keys; stop extra workers."""
    from brightsync.db import session_scope
    from brightsync.models import Base

    stack.aurinko("POST", "/_control/reset").raise_for_status()
    stack.crm("POST", "/_control/reset").raise_for_status()
    with session_scope() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())
    if stack.env.get("REDIS_URL"):
        import redis

        client = redis.Redis.from_url(stack.env["REDIS_URL"])
        for key in client.scan_iter("brightsync:*"):
            if key != b"brightsync:test-owner":
                client.delete(key)
    for w in stack.extra_workers:
        w.stop()
    stack.extra_workers.clear()


@pytest.fixture
def clean_stack(stack: Stack) -> Iterator[Stack]:
    """The stack with simulators and every BrightSync table emptied before the test."""
    reset_stack(stack)
    yield stack


@pytest.fixture
def aurinko():
    """A fresh Aurinko simulator on a free port: (base url, control helper)."""
    from brightsync.sandbox.aurinko import SandboxControl, create_aurinko_app, simulator_of
    from brightsync.sandbox.server import ServerThread

    app = create_aurinko_app(
        signing_secret=SIGNING_SECRET, webhook_debounce=0.02, webhook_retry_delay=0.05
    )
    server = ServerThread(app).start()
    try:
        yield server.url, SandboxControl(server.url)
    finally:
        server.stop()
        simulator_of(app).webhooks.close()


@pytest.fixture
def unit_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private embedded backend for tests that need settings and a database but no worker.

    It starts from an environment without any BrightSync setting: a session-wide `backend`
    still alive from earlier integration tests must not lend this test its Redis, its
    simulators' URLs or its test-speed knobs (such as re-counting gauges on every scrape).
    """
    saved = dict(os.environ)
    base = clean_environ()
    os.environ.clear()
    os.environ.update(base)
    env = {
        "BRIGHTSYNC_INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/unit.db",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.db",
        "AURINKO_SIGNING_SECRET": SIGNING_SECRET,
        "BRIGHTSYNC_ADMIN_TOKEN": ADMIN_TOKEN,
        "BRIGHTSYNC_ENCRYPTION_KEY": "kR7y0L9b3o2S1mW6dQq1vN8d8V3Gm0sH5bq2yJ8xY0c=",
    }
    apply_env(env)
    from brightsync.migrate import upgrade

    upgrade()
    yield env
    from brightsync import db
    from brightsync.process import reset_process_state

    db.reset_engine()
    os.environ.clear()
    os.environ.update(saved)
    # Back to whatever was configured before (a session backend's database, say), not to an
    # environment stripped of it.
    reset_process_state()


@pytest.fixture
def app(unit_env):
    from brightsync.web import create_app

    return create_app()


@pytest.fixture
def client(app):
    return app.test_client()


def random_token() -> str:
    return secrets.token_urlsafe(16)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed integration test, attach the tail of each worker's log to the report."""
    report = yield
    if report.when == "call" and report.failed:
        st = item.funcargs.get("clean_stack") or item.funcargs.get("stack")
        if isinstance(st, Stack):
            for w in [st.worker, *st.extra_workers]:
                if w is not None:
                    report.sections.append((f"worker {w.name} log", w.log()[-6000:]))
    return report


def clean_environ() -> dict[str, str]:
    """This process's environment without any BrightSync setting a fixture may have set."""
    ours = ("BRIGHTSYNC_", "AURINKO_", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")
    return {k: v for k, v in os.environ.items() if not k.startswith(ours)}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests on a real backend (a database server, a broker, worker processes) are marked
    `integration` wherever they live, so `-m "not integration"` runs the fast rest. On the
    RabbitMQ backend only the BROKER_SENSITIVE modules run (unless ALL_BROKERS)."""
    keep, dropped = [], []
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
        on_rabbitmq = getattr(item, "callspec", None) and item.callspec.params.get("backend")
        path = Path(str(item.fspath)).relative_to(REPO).as_posix()
        if on_rabbitmq == "rabbitmq" and not ALL_BROKERS and path not in BROKER_SENSITIVE:
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
