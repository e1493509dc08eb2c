"""The admin API fuzzed from its own OpenAPI document: no generated request gets a 5xx.

Generic on purpose: every operation the served document lists is fuzzed, valid and invalid
inputs alike (schemathesis's positive and negative modes), with random ids and — for path
parameters that name an existing row — with that row's id, so the handlers themselves run
and not only the 404 path. One database per run; the example budget is split across the
operations so the total stays at least MIN_REQUESTS whatever the document holds.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from tests.conftest import ADMIN_TOKEN, apply_env

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MIN_REQUESTS = 10_000


@pytest.fixture
def app(unit_env):
    """The admin API with Aurinko app credentials, so connect links are made, not refused."""
    from brightsync.web import create_app

    apply_env({**unit_env, "AURINKO_CLIENT_ID": "fuzz-client", "AURINKO_CLIENT_SECRET": "s"})
    return create_app()


def existing_ids(client, n: int = 1) -> dict[str, int]:
    """Rows the fuzzer can aim at, by the path parameter names the document uses (`n`: a
    second set for the operations that remove rows, so the others keep theirs)."""
    org = client.post(
        "/api/v1/orgs",
        headers=AUTH,
        json={
            "name": "Fuzz",
            "domains": ["fuzz.example"],
            "crm": {"baseUrl": "https://crm.fuzz.example", "authType": "bearer", "token": "t"},
        },
    )
    assert org.status_code == 201, org.get_json()
    org_id = org.get_json()["id"]
    user = client.post(
        f"/api/v1/orgs/{org_id}/users",
        headers=AUTH,
        json={
            "email": "a@fuzz.example",
            "aurinkoAccountId": f"fuzz-{n}",
            "aurinkoAccessToken": "x",
        },
    )
    assert user.status_code == 201, user.get_json()
    return {"orgId": org_id, "userId": user.get_json()["id"]}


def fuzz(runs: list, per_run: int) -> tuple[Counter[int], list[str]]:
    """Send `per_run` generated requests for each (operation, mode, aimed ids) run."""
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    for operation, mode, aim in runs:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=aim)

        @given(case=strategy)
        @settings(
            max_examples=per_run,
            deadline=None,
            database=None,
            phases=[Phase.generate],  # breadth over shrinking: a failure prints its case
            suppress_health_check=list(HealthCheck),
        )
        def probe(case) -> None:
            # Authenticated, so invalid input reaches the handlers instead of stopping at 401.
            headers = {
                k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
            }
            case.headers = headers
            response = case.call(headers=AUTH)
            statuses[response.status_code] += 1
            where = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}"
            assert response.status_code < 500, f"{where} -> {response.status_code}"
            if response.status_code >= 400 and case.path.startswith("/api/"):
                assert (response.json() or {}).get("error"), f"{where}: no reason given"

        try:
            probe()
        except Unsatisfiable:
            pass  # nothing invalid can be generated for an operation without inputs
        except AssertionError as exc:
            failures.append(f"{operation.label} ({mode.value}): {str(exc)[:600]}")
    return statuses, failures


_FORKED: dict = {}


def _fuzz_share(share: int) -> tuple[Counter[int], list[str]]:
    runs, per_run, processes = _FORKED["runs"], _FORKED["per_run"], _FORKED["processes"]
    return fuzz(runs[share::processes], per_run)


@pytest.mark.timeout(900)  # about a minute on two idle cores; a busy machine is slower
def test_no_generated_request_gets_a_server_error(app):
    client = app.test_client()
    ids = existing_ids(client)
    doomed = existing_ids(client, 2)  # DELETE aims here: the first success removes them
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    runs = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        aims = [None]
        if names and names <= ids.keys():
            rows = doomed if operation.method.upper() == "DELETE" else ids
            aims.append({name: rows[name] for name in names})
        for mode in schemathesis.GenerationMode:
            runs.extend((operation, mode, aim) for aim in aims)
    assert len(runs) >= 20, "the document lists fewer operations than the admin API has"
    # Some runs exhaust their input space early; the margin keeps the total above the floor.
    per_run = math.ceil(MIN_REQUESTS * 1.25 / len(runs))

    # Generation is CPU-bound: one forked process per core shares the runs (each process
    # opens its own database connections to the same database).
    processes = max(1, min(4, os.cpu_count() or 1))
    _FORKED.update(runs=runs, per_run=per_run, processes=processes)
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        shares = pool.map(_fuzz_share, range(processes))
    statuses: Counter[int] = sum((share[0] for share in shares), Counter())
    failures = [failure for share in shares for failure in share[1]]

    assert not failures, "\n".join(failures)
    sent = sum(statuses.values())
    assert sent >= MIN_REQUESTS, f"only {sent} requests generated: {statuses}"
    print(f"{sent} generated requests over {len(runs)} runs: {dict(statuses)}")
    # The fuzzer reached the handlers, not only the router and the validators (about 1 in 20
    # succeeds; the removal and connect operations answer most generated ids with 404).
    assert statuses[200] + statuses[201] + statuses[202] > sent // 25, statuses
