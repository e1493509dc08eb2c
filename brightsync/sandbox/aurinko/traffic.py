"""What the /v1 intake records and injects: statistics and the request log (read through
/_control/stats and /_control/requests), and the faults set through /_control/faults.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from brightsync.sandbox.aurinko.model import DEFAULT_CODES, Fault
from brightsync.sandbox.aurinko.records import ApiFailure, bad_request
from brightsync.sandbox.aurinko.state import AurinkoSimulator


def record_request(
    sim: AurinkoSimulator,
    op: str,
    account_id: int | None,
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: Any,
) -> dict[str, Any]:
    now = time.time()
    entry = {
        "t": now,
        "method": method,
        "path": path,
        "query": query,
        "op": op,
        "accountId": account_id,
        "json": body,
        "status": None,
    }
    with sim.lock:
        sim.stats.total += 1
        sim.stats.by_operation[op] += 1
        if account_id is not None:
            sim.stats.by_account[str(account_id)][op] += 1
        sim.stats.by_second[str(int(now))] += 1
        sim.requests.append(entry)
    return entry


def record_status(sim: AurinkoSimulator, entry: dict[str, Any], status: int) -> None:
    with sim.lock:
        entry["status"] = status
        sim.stats.by_status[str(status)] += 1


def add_fault(sim: AurinkoSimulator, spec: Mapping[str, Any]) -> Fault:
    """{pathPrefix (or path), method?, status?, count (default 1, null: until removed),
    retryAfter?, delay? (seconds before answering), accountId?, code?, message?,
    afterWrite? (carry the request out first, then fail or hold its answer: a lost answer),
    exact? (the path must equal pathPrefix)}"""
    try:
        status = None if spec.get("status") is None else int(spec["status"])
        delay = float(spec.get("delay") or 0)
        count = spec.get("count", 1)
        count = None if count is None else int(count)
        retry_after = None if spec.get("retryAfter") is None else float(spec["retryAfter"])
        account_id = int(spec["accountId"]) if spec.get("accountId") else None
    except (TypeError, ValueError):
        raise bad_request("status, count, retryAfter, delay, accountId: numbers") from None
    if status is None and delay <= 0:
        raise bad_request("a fault needs a status or a delay")
    if status is not None and not 400 <= status <= 599:
        raise bad_request("status must be a 4xx or 5xx code")
    with sim.lock:
        fault = Fault(
            id=next(sim.fault_ids),
            path_prefix=spec.get("pathPrefix") or spec.get("path") or "/v1/",
            method=(spec.get("method") or "").upper() or None,
            status=status,
            count=count,
            retry_after=retry_after,
            delay=delay,
            account_id=account_id,
            code=spec.get("code"),
            message=spec.get("message"),
            after_write=bool(spec.get("afterWrite")),
            exact=bool(spec.get("exact")),
        )
        sim.faults.append(fault)
        return fault


def clear_faults(sim: AurinkoSimulator) -> None:
    with sim.lock:
        sim.faults.clear()


def take_fault(
    sim: AurinkoSimulator, path: str, method: str, account_id: int | None
) -> Fault | None:
    with sim.lock:
        for fault in sim.faults:
            if not path.startswith(fault.path_prefix):
                continue
            if fault.exact and path.rstrip("/") != fault.path_prefix.rstrip("/"):
                continue
            if fault.method and fault.method != method:
                continue
            if fault.account_id is not None and fault.account_id != account_id:
                continue
            fault.served += 1
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    sim.faults.remove(fault)
            return copy.copy(fault)
    return None


def fault_failure(fault: Fault) -> ApiFailure:
    assert fault.status is not None
    headers = {}
    if fault.retry_after is not None:
        value = fault.retry_after
        headers["Retry-After"] = str(int(value) if value.is_integer() else value)
    return ApiFailure(
        fault.status,
        fault.code or DEFAULT_CODES.get(fault.status, "error"),
        fault.message or f"simulated failure ({fault.status})",
        headers=headers,
    )
