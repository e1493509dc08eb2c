"""Webhook intake benchmark: req/s of POST /webhooks/aurinko ÷ a bare Flask route.

Both apps run under the same gunicorn command the Procfile starts `web` with (same workers,
same access log), side by side, loaded by the same client from 127.0.0.1 in alternating
slices (--rounds of them, the same time for each app), so load that other work puts on a
shared machine falls on both alike. The product receives validly signed, distinct
notifications (no replays) for a registered mailbox, so each one goes the whole way: signature
check, replay check, coalescing and the broker. The bare route gets the very same requests
(the server parses the same bytes for both) and returns 200 and nothing else.
The figure is the ratio. On PostgreSQL + Redis the database intake path
(BRIGHTSYNC_WEBHOOK_INTAKE=database) is measured in the same run too. Any non-2xx answer
fails the run (exit status 1) instead of being counted.

    python bench/intake.py [--backend postgres|embedded] [--seconds 10] [--rounds 5]
        [--connections 16] [--workers 2] [--client wrk|python] [--pin-redis]
        [--server-args "--worker-class gthread --threads 8"] [--markless]
    python bench/intake.py --in-process [--backend …] [--requests 10000]

Also printed: the gunicorn workers' CPU time per request (from /proc), which moves less with
the machine's other work than req/s does; the Redis server's CPU time per request (its own
INFO cpu); and how busy the machine's cores were (from /proc/stat), which tells a saturated
machine from workers that sit waiting.

--pin-redis stands in for Redis on a machine of its own, as in production: a local Redis
server is moved to the last core for the run (its affinity restored after) and the web
servers and the load generator to the others, so Redis's own work falls on neither app.
--server-args adds gunicorn arguments to every app's command alike. --markless adds a fourth
app, the webhook with its durable mark taken out (a stand-in answers): the ceiling that making
the mark cheaper could reach.

--in-process calls the WSGI apps directly, no gunicorn, no client: the CPU time per request of
the bare route, of the webhook, of the webhook with its durable mark taken out (a stand-in
answers, so what is left is verify, parse, answer, metrics), of the mark alone and, on
Redis, of a bare PING on a socket (the round trip's own floor).

The load generator is wrk when installed (`apt-get install -y wrk`), else a bounded Python
client (processes × keep-alive connections, stopped after each slice). PostgreSQL + Redis come
from BRIGHTSYNC_TEST_PG / BRIGHTSYNC_TEST_REDIS (as for the tests); a fresh database and Redis
db number are made and removed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ACCOUNT_ID = "4242"
PATH = "/webhooks/aurinko"


def bare_app():  # noqa: ANN201 - gunicorn app factory for the baseline
    from flask import Flask

    app = Flask("bare")

    @app.post(PATH)
    def ok() -> tuple[str, int]:
        return "", 200

    return app


def markless_app():  # noqa: ANN201 - gunicorn app factory for --markless
    """The product's app with its durable mark taken out: a stand-in answers "coalesced" on
    either intake path, so what is left is everything else the webhook does. The ceiling
    that cheapening the mark could reach, never a way to run."""
    from brightsync.sync import intake, intake_db
    from brightsync.web import create_app

    intake.accept = lambda settings, note, digest: "coalesced"
    intake_db.accept = lambda note, digest, service: ("coalesced", 1)
    return create_app()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_command(app_spec: str, port: int, workers: int, extra: str = "") -> list[str]:
    """The Procfile's `web` line, with only the app (and its port) swapped; `extra`
    gunicorn arguments go on the end."""
    line = next(
        x.split(":", 1)[1]
        for x in (REPO / "Procfile").read_text().splitlines()
        if x.startswith("web:")
    )
    line = line.replace("${PORT:-5000}", str(port)).replace("${WEB_CONCURRENCY:-2}", str(workers))
    line = line.replace("0.0.0.0", "127.0.0.1")
    argv = shlex.split(line)
    argv[1] = app_spec
    return [sys.executable, "-m", *argv, *shlex.split(extra)]


def start_web(
    app_spec: str, port: int, workers: int, env: dict[str, str], log: Path, extra: str = ""
):
    proc = subprocess.Popen(
        web_command(app_spec, port, workers, extra),
        cwd=REPO,
        env={**os.environ, **env, "PYTHONPATH": f"{REPO}:{REPO / 'bench'}"},
        stdout=open(str(log) + ".out", "w"),  # the access log is written (as in production)
        stderr=open(log, "w"),
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(1.0)  # every worker booted, not only the arbiter's socket
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def signed_requests(secret: str, count: int, prefix: str = "m") -> list[tuple[str, str, bytes]]:
    """`count` distinct notifications for the registered mailbox: (timestamp, signature, body)."""
    from brightsync.signing import sign

    ts = str(int(time.time()))
    out = []
    for i in range(count):
        body = json.dumps(
            {
                "subscription": 1,
                "resource": "/email/messages",
                "accountId": int(ACCOUNT_ID),
                "payloads": [{"id": f"{prefix}-{i}", "changeType": "created"}],
            },
            separators=(",", ":"),
        ).encode()
        out.append((ts, sign(secret, ts, body), body))
    return out


# -- load generators ---------------------------------------------------------------------
WRK_SCRIPT = r"""
local reqs, n, i, counter = {}, 0, 0, 0  -- tid and wrapped: set per thread
local threads = {}
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(args[1]) do
    local ts, sig, body = line:match("^(%S+)\t(%S+)\t(.*)$")
    n = n + 1
    reqs[n] = wrk.format("POST", nil, {
      ["Content-Type"] = "application/json",
      ["X-Aurinko-Request-Timestamp"] = ts,
      ["X-Aurinko-Signature"] = sig,
    }, body)
  end
  -- each thread starts on its own slice (setup may run after init: then a random one)
  i = tid and math.floor(n * tonumber(tid) / tonumber(args[2])) or math.random(n)
  wrapped = 0
end
function request()
  i = i + 1
  if i > n then i = 1; wrapped = wrapped + 1 end
  return reqs[i]
end
function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wrapped") or 0) end
  io.write(string.format("WRAPPED %d\n", w))
end
"""


def run_wrk(
    port: int, seconds: int, connections: int, threads: int, data: Path, workdir: Path
) -> tuple[float, int, str]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    script = workdir / "signed.lua"
    script.write_text(WRK_SCRIPT)
    cmd += ["-s", str(script), f"http://127.0.0.1:{port}{PATH}", "--", str(data), str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    wrapped = re.search(r"WRAPPED (\d+)", out)
    if wrapped and int(wrapped.group(1)):
        print(f"  note: the signed set ran out {wrapped.group(1)}x; raise --requests")
    return rps, int(bad.group(1)) if bad else 0, p99.group(1) if p99 else "?"


def _python_client(args: tuple[int, float, list[tuple[str, str, bytes]], multiprocessing.Queue]):
    port, until, reqs, out = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    done = bad = 0
    lat: list[float] = []
    while time.time() < until and done < len(reqs):
        ts, sig, body = reqs[done]
        headers = {
            "Content-Type": "application/json",
            "X-Aurinko-Request-Timestamp": ts,
            "X-Aurinko-Signature": sig,
        }
        t0 = time.perf_counter()
        conn.request("POST", PATH, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        lat.append(time.perf_counter() - t0)
        bad += resp.status >= 300
        done += 1
    out.put((done, bad, lat))


def run_python(
    port: int, seconds: int, connections: int, reqs: list[tuple[str, str, bytes]]
) -> tuple[float, int, str]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    until = time.time() + seconds
    slices = [reqs[i::connections] for i in range(connections)]
    procs = [
        multiprocessing.Process(target=_python_client, args=((port, until, s, queue),))
        for s in slices
    ]
    started = time.time()
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    elapsed = time.time() - started
    for p in procs:
        p.join(timeout=10)
    total = sum(r[0] for r in results)
    lat = sorted(x for r in results for x in r[2])
    p99 = f"{lat[int(0.99 * (len(lat) - 1))] * 1000:.2f}ms" if lat else "?"
    return total / elapsed, sum(r[1] for r in results), p99


def warm_up(port: int, reqs: list[tuple[str, str, bytes]], count: int) -> None:
    """Each worker's first requests connect to the database and the broker: not measured."""
    for n in range(count):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        ts, sig, body = reqs[n]
        headers = {
            "Content-Type": "application/json",
            "X-Aurinko-Request-Timestamp": ts,
            "X-Aurinko-Signature": sig,
        }
        conn.request("POST", PATH, body=body, headers=headers)
        resp = conn.getresponse()
        answer = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"warm-up request answered {resp.status}: {answer!r}")
        conn.close()


# -- the scenario ----------------------------------------------------------------------
def seed_mailbox() -> None:
    from brightsync.crypto import encrypt, encrypt_json
    from brightsync.db import session_scope
    from brightsync.models import Organisation, User

    with session_scope() as s:
        org = Organisation(
            name="Acme",
            domains=["acme.com"],
            crm_base_url="http://127.0.0.1:9/",
            crm_auth_type="bearer",
            crm_secret_enc=encrypt_json({"token": "unused"}),
            settings={},
        )
        s.add(org)
        s.flush()
        s.add(
            User(
                org_id=org.id,
                email="alice@acme.com",
                aurinko_account_id=ACCOUNT_ID,
                access_token_enc=encrypt("unused"),
                services=["email"],
            )
        )


def outcomes() -> dict[str, int]:
    """Audit rows by outcome, and on Redis what waits in the intake buffer (no worker here)."""
    from sqlalchemy import func, select

    from brightsync.config import get_settings
    from brightsync.db import session_scope
    from brightsync.models import Notification
    from brightsync.sync import intake

    with session_scope() as s:
        rows = s.execute(
            select(Notification.outcome, func.count()).group_by(Notification.outcome)
        ).all()
    seen = {k: int(v) for k, v in rows}
    if intake.enabled(get_settings()):
        seen["buffered for the drain task"] = int(intake._redis().llen(intake.BUFFER))
    return seen


def worker_cpu(proc: subprocess.Popen) -> float:
    """CPU seconds (user + system) used so far by the gunicorn arbiter's workers."""
    total = 0.0
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    except (OSError, ValueError):
        return float("nan")  # no /proc (not Linux): the req/s figures still stand
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[int, int]:
    """(busy, all) jiffies of every core so far, from /proc/stat; (0, 0) off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def redis_cpu(client: Any) -> float:
    """The Redis server's own CPU seconds so far (user + system, from INFO cpu)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class PinnedRedis:
    """A local Redis server on the last core, everything this run starts on the others."""

    def __init__(self, client: Any) -> None:
        self.pid = int(client.info("server")["process_id"])
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2:
            raise SystemExit("--pin-redis needs two cores or more")
        try:
            local = Path(f"/proc/{self.pid}/comm").read_text().startswith("redis")
            self.saved = os.sched_getaffinity(self.pid)
        except OSError:
            local = False
        if not local:
            raise SystemExit(f"--pin-redis: Redis (pid {self.pid}) is not on this machine")
        self.redis_core, self.others = {cores[-1]}, set(cores[:-1])

    def __enter__(self) -> PinnedRedis:
        os.sched_setaffinity(self.pid, self.redis_core)
        os.sched_setaffinity(0, self.others)  # inherited by gunicorn and the load generator
        return self

    def __exit__(self, *exc: object) -> None:
        os.sched_setaffinity(self.pid, self.saved)
        os.sched_setaffinity(0, self.others | self.redis_core)


@dataclass
class Tally:
    """One app's slices added up: requests, load seconds, non-2xx answers, CPU seconds of
    its gunicorn workers and of the Redis server, the machine's busy and total jiffies."""

    requests: int = 0
    seconds: float = 0.0
    bad: int = 0
    cpu: float = 0.0
    redis: float = 0.0
    busy: int = 0
    jiffies: int = 0
    p99s: list[str] = field(default_factory=list)
    with_redis: bool = False

    def measure(
        self,
        proc: subprocess.Popen,
        redis_client: Any,
        load: Callable[[], tuple[int, int, str]],
    ) -> None:
        cpu, machine = worker_cpu(proc), machine_busy()
        rcpu = redis_cpu(redis_client) if redis_client is not None else 0.0
        done, bad, p99 = load()
        self.requests += done
        self.bad += bad
        self.p99s.append(p99)
        self.cpu += worker_cpu(proc) - cpu
        if redis_client is not None:
            self.redis += redis_cpu(redis_client) - rcpu
            self.with_redis = True
        after = machine_busy()
        self.busy += after[0] - machine[0]
        self.jiffies += after[1] - machine[1]

    def row(self) -> str:
        per = (lambda s: f"{s / self.requests * 1e6:.0f} us") if self.requests else (lambda s: "?")
        busy = f"{self.busy / self.jiffies:.0%}" if self.jiffies else "?"
        redis = per(self.redis) if self.with_redis else "-"
        return f"{per(self.cpu):>9} {redis:>10} {busy:>11} {self.bad:>8}  " + " ".join(self.p99s)


def load_slice(
    args: argparse.Namespace, port: int, secret: str, workdir: Path
) -> tuple[int, int, str]:
    """One slice of signed notifications on one app: (requests, non-2xx, p99)."""
    # Fresh, distinct notifications for every slice (timestamps stay inside the window).
    reqs = signed_requests(secret, args.requests, prefix=str(time.time_ns()))
    if args.client == "wrk":
        data = workdir / "signed.tsv"
        data.write_bytes(
            b"".join(f"{ts}\t{sig}\t".encode() + body + b"\n" for ts, sig, body in reqs)
        )
        rps, bad, p99 = run_wrk(port, args.slice, args.connections, args.threads, data, workdir)
    else:
        rps, bad, p99 = run_python(port, args.slice, args.connections, reqs)
    return round(rps * args.slice), bad, p99


def wsgi_cpu(app: Any, reqs: list[tuple[str, str, bytes]]) -> float:
    """CPU seconds per request of `app` called directly with each signed request."""
    import io

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        if not status.startswith("2"):
            raise SystemExit(f"the app answered {status}")

    environs = [
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": PATH,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_AURINKO_REQUEST_TIMESTAMP": ts,
            "HTTP_X_AURINKO_SIGNATURE": sig,
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        for ts, sig, body in reqs
    ]
    started = time.process_time()
    for environ in environs:
        b"".join(app(environ, start_response))
    return (time.process_time() - started) / len(reqs)


def in_process(args: argparse.Namespace) -> None:
    """--in-process: each part's CPU time per request, the apps called directly."""
    from unittest import mock

    from brightsync.config import get_settings
    from brightsync.migrate import upgrade
    from brightsync.sync import intake, intake_db
    from brightsync.web import create_app
    from tests.conftest import SIGNING_SECRET, apply_env, destroy_backend, make_backend

    saved = dict(os.environ)
    backend = make_backend(args.backend)
    rows: list[tuple[str, float]] = []
    try:
        apply_env(backend.env)
        upgrade()
        seed_mailbox()
        settings = get_settings()
        app = create_app(settings)
        n = args.requests

        def fresh() -> list[tuple[str, str, bytes]]:
            return signed_requests(SIGNING_SECRET, n, prefix=str(time.time_ns()))

        wsgi_cpu(app, fresh()[:50])  # connections made, caches warm: not measured
        rows.append(("bare Flask route", wsgi_cpu(bare_app(), fresh())))
        apps = [("Redis", app)] if intake.enabled(settings) else []
        if apps:  # and the database path of the same deployment
            database = replace(settings, webhook_intake="database")
            apps.append(("database", create_app(database)))
            wsgi_cpu(apps[1][1], fresh()[:50])
        else:
            apps.append(("database", app))
        for mark, each in apps:
            rows.append((f"webhook ({mark} mark)", wsgi_cpu(each, fresh())))
            module, stand_in = (
                (intake, "coalesced") if mark == "Redis" else (intake_db, ("coalesced", 1))
            )
            with mock.patch.object(module, "accept", return_value=stand_in):
                rows.append((f"webhook ({mark} mark taken out)", wsgi_cpu(each, fresh())))
        if intake.enabled(settings):
            rows.append(("the Redis mark alone", accept_cpu(settings, n)))
            rows.append(("a bare PING round trip", ping_cpu(settings.redis_url or "", n)))
    finally:
        destroy_backend(backend)
        os.environ.clear()
        os.environ.update(saved)
    print(f"\nIn-process CPU per request on {args.backend}, {args.requests} requests each")
    for label, cpu in rows:
        print(f"{label:<34} {cpu * 1e6:>7.1f} us")


def accept_cpu(settings: Any, count: int) -> float:
    """intake.accept alone, with distinct notifications (no replays)."""
    import hashlib

    from brightsync.sync import intake

    notes = [
        {"accountId": ACCOUNT_ID, "resource": "/email/messages", "subscription": 1, "payloads": []}
        for _ in range(count)
    ]
    digests = [hashlib.sha256(f"{time.time_ns()}-{i}".encode()).hexdigest() for i in range(count)]
    started = time.process_time()
    for note, digest in zip(notes, digests, strict=True):
        intake.accept(settings, note, digest)
    return (time.process_time() - started) / count


def ping_cpu(url: str, count: int) -> float:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "localhost", parts.port or 6379)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.process_time()
        for _ in range(count):
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            sock.recv(64)
        return (time.process_time() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="postgres", choices=["postgres", "embedded"])
    parser.add_argument("--seconds", type=int, default=10, help="load time per app, in total")
    parser.add_argument("--rounds", type=int, default=5, help="alternating slices per app")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (every app)")
    parser.add_argument("--requests", type=int, default=30000, help="signed notifications a slice")
    parser.add_argument(
        "--pin-redis", action="store_true", help="Redis on the last core, the rest elsewhere"
    )
    parser.add_argument("--server-args", default="", help="more gunicorn arguments, every app")
    parser.add_argument(
        "--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python"
    )
    parser.add_argument(
        "--in-process", action="store_true", help="CPU per request, apps called directly"
    )
    parser.add_argument(
        "--markless", action="store_true", help="also the webhook with its mark taken out"
    )
    args = parser.parse_args()
    if args.in_process:
        args.requests = min(args.requests, 10000)
        in_process(args)
        return
    args.slice = max(1, round(args.seconds / args.rounds))
    if args.client == "python":
        args.requests = min(args.requests, 10000)

    from brightsync.migrate import upgrade
    from tests.conftest import SIGNING_SECRET, apply_env, destroy_backend, make_backend

    saved = dict(os.environ)
    backend = make_backend(args.backend)
    workdir = Path(tempfile.mkdtemp(prefix="brightsync-intake-"))
    apps = [("bare Flask route", "intake:bare_app()", {})]
    if backend.env.get("REDIS_URL"):
        apps.append(
            (
                "webhooks, database path",
                "brightsync.web:create_app()",
                {"BRIGHTSYNC_WEBHOOK_INTAKE": "database"},
            )
        )
    if args.markless:
        apps.append(("webhook, mark taken out", "intake:markless_app()", {}))
    apps.append(("/webhooks/aurinko", "brightsync.web:create_app()", {}))
    totals = {label: Tally() for label, _, _ in apps}
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        apply_env(backend.env)
        upgrade()
        seed_mailbox()
        with ExitStack() as pinned:
            redis_client = None
            if backend.env.get("REDIS_URL"):
                import redis

                redis_client = redis.Redis.from_url(backend.env["REDIS_URL"])
            if args.pin_redis:
                if redis_client is None:
                    raise SystemExit("--pin-redis needs the postgres backend (with Redis)")
                pinned.enter_context(PinnedRedis(redis_client))
            for label, spec, extra in apps:
                port = free_port()
                env = {**backend.env, **extra}
                log = workdir / f"web-{len(servers)}.log"
                proc = start_web(spec, port, args.workers, env, log, args.server_args)
                servers[label] = (proc, port)
                warm = args.workers * 10
                warm_up(port, signed_requests(SIGNING_SECRET, warm, prefix=f"warm-{label}"), warm)
            for _ in range(args.rounds):
                for label, _, _ in apps:
                    proc, port = servers[label]
                    load = partial(load_slice, args, port, SIGNING_SECRET, workdir)
                    totals[label].measure(proc, redis_client, load)
                    totals[label].seconds += args.slice
            for proc, _ in servers.values():
                stop(proc)
        seen = outcomes()
    finally:
        for proc, _ in servers.values():
            stop(proc)
        destroy_backend(backend)
        shutil.rmtree(workdir, ignore_errors=True)
        os.environ.clear()
        os.environ.update(saved)

    server = f"gunicorn x{args.workers} workers {args.server_args}".strip()
    print(
        f"\nWebhook intake on {args.backend}: {server}, {args.client} with {args.connections} "
        f"connections, {args.rounds} alternating slices of {args.slice} s per app, 127.0.0.1"
        + (", Redis pinned to a core of its own" if args.pin_redis else "")
    )
    print(
        f"{'route':<25} {'req/s':>8} {'CPU/req':>9} {'Redis/req':>10} {'cores busy':>11} "
        f"{'non-2xx':>8}  p99 per slice"
    )
    rps = {}
    for label, t in totals.items():
        rps[label] = t.requests / t.seconds
        print(f"{label:<25} {rps[label]:>8.0f} {t.row()}")
    print(f"notification outcomes recorded: {seen}")
    bare = rps["bare Flask route"]
    if "webhooks, database path" in rps:
        ratio = rps["webhooks, database path"] / bare
        print(f"ratio database path ÷ bare route: {ratio:.3f} (target >= 0.3)")
    if "webhook, mark taken out" in rps:
        ratio = rps["webhook, mark taken out"] / bare
        print(f"ratio webhook with its mark taken out ÷ bare route: {ratio:.3f} (the ceiling)")
    ratio = rps["/webhooks/aurinko"] / bare
    target = "1.0 (Redis)" if args.backend == "postgres" else "0.5 (embedded default)"
    print(f"\nratio /webhooks/aurinko ÷ bare route: {ratio:.3f} (target >= {target})")
    failed = {label: t.bad for label, t in totals.items() if t.bad}
    if failed:
        # A refused request is not a fast one: the figures above do not count.
        sys.exit(f"FAILED: non-2xx answers {failed}; see the gunicorn logs")


if __name__ == "__main__":
    main()
