"""CrmSandbox: the reference CRM on a background thread, for tests and demos."""

from __future__ import annotations

from typing import Any

import requests

from brightsync.sandbox.crm import create_crm_app
from brightsync.sandbox.crm.state import DEFAULT_TOKEN
from brightsync.sandbox.server import ServerThread


class CrmSandbox:
    """The reference CRM on a background thread, with its control API as methods.

    `with CrmSandbox(breakages=frozenset({"no_patch"})) as crm: crm.url, crm.stats()`.
    """

    def __init__(self, **app_kwargs: Any) -> None:
        self.token: str | None = app_kwargs.get("token", DEFAULT_TOKEN)
        self.app = create_crm_app(**app_kwargs)
        self.server = ServerThread(self.app)
        self.url = self.server.url
        self.http = requests.Session()

    def start(self) -> CrmSandbox:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self.http.close()

    def __enter__(self) -> CrmSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _control(self, method: str, path: str, payload: Any = None) -> Any:
        response = self.http.request(
            method, f"{self.url}/_control/{path}", json=payload, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._control("POST", "reset")

    def stats(self) -> dict[str, Any]:
        """`{total, byOperation, byStatus}` (see `ops()` for the operation counts)."""
        return self._control("GET", "stats")

    def ops(self) -> dict[str, int]:
        """Calls per operation since the last reset, plus "total"."""
        stats = self.stats()
        return {"total": stats["total"], **stats["byOperation"]}

    def reset_stats(self) -> None:
        self._control("POST", "stats/reset")

    def fault(
        self,
        path: str = "/api/",
        status: int | None = 503,
        *,
        count: int = 1,
        method: str | None = None,
        retry_after: float | str | None = None,
        delay: float = 0.0,
        message: str | None = None,
        match: str | None = None,
        after_write: bool = False,
    ) -> None:
        """Fail the next `count` matching requests (0: until cleared).

        `after_write=True`: handle the request first (a create stores its record), then
        answer `status` instead (a lost 502), or, with `status=None` and `delay`, answer
        only after `delay` seconds (past the client's read timeout: no answer at all).
        """
        self._control(
            "POST",
            "faults",
            {
                "path": path,
                "status": status,
                "count": count,
                "method": method,
                "retryAfter": retry_after,
                "delaySeconds": delay,
                "message": message,
                "match": match,
                "afterWrite": after_write,
            },
        )

    def clear_faults(self) -> None:
        self._control("DELETE", "faults")

    def settings(self, **values: Any) -> dict[str, Any]:
        """Change settings (`latencyMs=50`: every API answer held 50 ms); the current ones."""
        return self._control("POST", "settings", values)

    def seed(self, **collections: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        return self._control("POST", "seed", collections)

    def records(self, kind: str, *, deleted: bool = False) -> list[dict[str, Any]]:
        return self._control("GET", f"records/{kind}" + ("?deleted=1" if deleted else ""))
