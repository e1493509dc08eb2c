"""Both simulators answer their API with a configurable latency, as the real APIs do across a
network, while concurrent requests overlap and the control API answers at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from brightsync.sandbox.aurinko import SandboxControl, create_aurinko_app, simulator_of
from brightsync.sandbox.crm.harness import CrmSandbox
from brightsync.sandbox.server import ServerThread

LATENCY_MS = 400.0


class Sim:
    """One simulator: an API call, a control call, and its latency setting."""

    def __init__(
        self,
        api: Callable[[], requests.Response],
        control: Callable[[], requests.Response],
        settings: Callable[..., dict[str, Any]],
    ) -> None:
        self.api, self.control, self.settings = api, control, settings


@pytest.fixture(params=["aurinko", "crm"])
def sim(request) -> Iterator[Sim]:
    if request.param == "aurinko":
        app = create_aurinko_app(latency_ms=LATENCY_MS)
        server = ServerThread(app).start()
        control = SandboxControl(server.url)
        token = control.add_account("ann@acme.test", provider="imap")["accessToken"]
        try:
            yield Sim(
                lambda: requests.get(
                    server.url + "/v1/account",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                ),
                lambda: requests.get(server.url + "/_control/stats", timeout=10),
                lambda **values: control.settings(**values),
            )
        finally:
            server.stop()
            simulator_of(app).webhooks.close()
    else:
        with CrmSandbox(latency_ms=LATENCY_MS) as crm:
            yield Sim(
                lambda: requests.get(
                    crm.url + "/api/v1/users/me",
                    headers={"Authorization": f"Bearer {crm.token}"},
                    timeout=10,
                ),
                lambda: requests.get(crm.url + "/_control/stats", timeout=10),
                lambda **values: crm.settings(**values),
            )


def timed(call: Callable[[], requests.Response]) -> float:
    started = time.monotonic()
    response = call()
    assert response.status_code == 200, response.text
    return time.monotonic() - started


def test_every_api_answer_waits_and_concurrent_requests_overlap(sim: Sim) -> None:
    assert timed(sim.api) >= LATENCY_MS / 1000
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        took = list(pool.map(lambda _: timed(sim.api), range(4)))
    assert min(took) >= LATENCY_MS / 1000
    # Four requests in parallel take about one latency, not four (the sleep holds no lock).
    assert time.monotonic() - started < 2.5 * LATENCY_MS / 1000
    # The control API is no API: it answers at once.
    assert timed(sim.control) < LATENCY_MS / 1000


def test_latency_is_a_setting_that_changes_at_once_and_is_checked(sim: Sim) -> None:
    assert sim.settings()["latencyMs"] == LATENCY_MS
    assert sim.settings(latencyMs=0)["latencyMs"] == 0
    assert timed(sim.api) < LATENCY_MS / 1000
    with pytest.raises((AssertionError, requests.HTTPError)):
        sim.settings(latencyMs=-1)
    with pytest.raises((AssertionError, requests.HTTPError)):
        sim.settings(latencyMs="soon")
    assert sim.settings()["latencyMs"] == 0
