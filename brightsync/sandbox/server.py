"""Run a WSGI app on a background thread: tests, the demo and `brightsync sandbox` use it."""

from __future__ import annotations

import threading
import time
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

#: The most response latency a simulator takes (ms): more than any real API answers in.
MAX_LATENCY_MS = 10_000.0


def checked_latency(value: Any) -> float:
    """A `latencyMs` setting: milliseconds from 0 to MAX_LATENCY_MS, else ValueError."""
    ms = float(value)
    if not 0 <= ms <= MAX_LATENCY_MS:
        raise ValueError(f"latencyMs must be between 0 and {MAX_LATENCY_MS:g}")
    return ms


def network_latency(ms: float) -> None:
    """Hold the current request `ms` milliseconds, as a real API across a network does.

    Only this request's thread sleeps (the servers are threaded, and a sleep releases the
    GIL), so concurrent requests overlap their latency as they would against the real API.
    """
    if ms > 0:
        time.sleep(ms / 1000.0)


class ServerThread:
    """A threaded HTTP server on `host:port` (port 0 picks a free one); `.url` is its base URL."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self.host = host
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name=f"server-{self.port}", daemon=True
        )

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DeferredApp:
    """A WSGI app set after its server is bound: the app may need to know the server's URL."""

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)
