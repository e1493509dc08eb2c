"""The two sides of one user's contacts or tasks as people and tests see them, over the
simulators' HTTP APIs (the reference CRM and the Aurinko simulator): records by id, people's
creates, edits and deletions, injected faults on BrightSync's writes, write counts; and an
adapter wrapper whose run dies after a given write. Used by
tests/sync/test_twoway_real_machine.py."""

from __future__ import annotations

import itertools
from typing import Any

from brightsync.sync.adapter import CRM, MAILBOX, Side
from tests.conftest import Stack
from tests.sync.memory import Crash

OWNER = "u-ann"


class Crashing:
    """The real adapter, but the run dies right after its `after`-th write (None: never)."""

    def __init__(self, adapter: Any, after: int | None) -> None:
        self.adapter, self.after = adapter, after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.adapter, name)

    def _write(self, name: str, *args: Any) -> Any:
        result = getattr(self.adapter, name)(*args)
        if self.after is not None:
            self.after -= 1
            if self.after < 0:
                raise Crash()
        return result

    def create(self, *args: Any) -> Any:
        return self._write("create", *args)

    def update(self, *args: Any) -> Any:
        return self._write("update", *args)

    def delete(self, *args: Any) -> Any:
        return self._write("delete", *args)


class World:
    """The two simulators as people and the test see them, for one domain."""

    def __init__(self, stack: Stack, domain: str, account: dict[str, Any]) -> None:
        self.stack, self.domain, self.account = stack, domain, account
        self.box = f"/_control/accounts/{account['id']}/{domain}"
        self.crm_kind = domain
        self.seq = itertools.count(1)

    # reading: id -> (fields compared, key)
    def records(self, side: Side) -> dict[str, dict[str, str]]:
        if side == MAILBOX:
            rows = self.stack.aurinko("GET", self.box).json()["records"]
        else:
            rows = self.stack.crm("GET", f"/_control/records/{self.crm_kind}").json()
        return {str(r["id"]): self._fields(side, r) for r in rows}

    def _fields(self, side: Side, row: dict[str, Any]) -> dict[str, str]:
        if self.domain == "contacts":
            if side == MAILBOX:
                emails = [e["address"] for e in row.get("emailAddresses") or []]
                first, extra = row["name"].get("givenName"), (row.get("company") or {})
                extra = extra.get("jobTitle")
            else:
                emails = [e if isinstance(e, str) else e["address"] for e in row["emailAddresses"]]
                first, extra = row.get("firstName"), row.get("title")
            key = ",".join(sorted(emails))
            return {"key": key, "firstName": first or "", "jobTitle": extra or ""}
        title = row["title"] if side == MAILBOX else row["subject"]
        notes = row.get("notes") if side == MAILBOX else row.get("description")
        return {"key": title.split("/")[0], "title": title, "notes": notes or ""}

    # what people do
    def make(self, side: Side, name: str, extra: str, key: str) -> str:
        if self.domain == "contacts":
            if side == MAILBOX:
                body = {
                    "name": {"givenName": name, "familyName": "Doe"},
                    "emailAddresses": [{"address": key}],
                    **({"company": {"jobTitle": extra}} if extra else {}),
                }
            else:
                body = {
                    "ownerId": OWNER,
                    "firstName": name,
                    "lastName": "Doe",
                    "emailAddresses": [key],
                    **({"title": extra} if extra else {}),
                }
        elif side == MAILBOX:
            body = {"title": f"{key}/{name}", **({"notes": extra} if extra else {})}
        else:
            body = {
                "ownerId": OWNER,
                "subject": f"{key}/{name}",
                "status": "notStarted",
                **({"description": extra} if extra else {}),
            }
        if side == MAILBOX:
            r = self.stack.aurinko("POST", self.box, json=body)
        else:
            r = self.stack.crm("POST", f"/api/v1/{self.crm_kind}", json=body)
        assert r.status_code in (200, 201), r.text
        return str(r.json()["id"])

    def edit(self, side: Side, record_id: str, name: str, value: str) -> None:
        key = self.records(side)[record_id]["key"]
        if self.domain == "contacts":
            if side == MAILBOX:
                row = self.stack.aurinko("GET", self.box).json()["records"]
                (row,) = [r for r in row if str(r["id"]) == record_id]
                body = (
                    {"name": {**row["name"], "givenName": value}}
                    if name == "firstName"
                    else {"company": {**(row.get("company") or {}), "jobTitle": value}}
                )
            else:
                body = {"firstName" if name == "firstName" else "title": value}
        elif name == "title":
            value = f"{key}/{value}"
            body = {"title" if side == MAILBOX else "subject": value}
        else:
            body = {"notes" if side == MAILBOX else "description": value}
        if side == MAILBOX:
            r = self.stack.aurinko("PATCH", f"{self.box}/{record_id}", json=body)
        else:
            r = self.stack.crm("PATCH", f"/api/v1/{self.crm_kind}/{record_id}", json=body)
        assert r.status_code == 200, r.text

    def remove(self, side: Side, record_id: str) -> None:
        if side == MAILBOX:
            r = self.stack.aurinko("DELETE", f"{self.box}/{record_id}")
        else:
            r = self.stack.crm("DELETE", f"/api/v1/{self.crm_kind}/{record_id}")
        assert r.status_code in (200, 204), r.text

    # BrightSync's writes: faults and counts
    def paths(self, side: Side) -> str:
        if side == CRM:
            return f"/api/v1/{self.crm_kind}"
        if self.domain == "contacts":
            return "/v1/contacts"
        return "/v1/tasklists/default/tasks"  # the default list: no list configured

    def fault(self, side: Side, method: str, kind: str) -> None:
        """`fail`: refused before it happens (503); `lost`: stored, then answered 502."""
        if kind == "ok":
            return
        path = self.paths(side) + ("" if method == "POST" else "/")
        status = 503 if kind == "fail" else 502
        if side == CRM:
            spec = {"path": path, "method": method, "status": status, "count": 1}
            spec["afterWrite"] = kind == "lost"
            self.stack.crm("POST", "/_control/faults", json=spec).raise_for_status()
        else:
            spec = {"pathPrefix": path, "method": method, "status": status, "count": 1}
            spec |= {"afterWrite": kind == "lost", "exact": method == "POST"}
            self.stack.aurinko("POST", "/_control/faults", json=spec).raise_for_status()

    def clear_faults(self) -> None:
        self.stack.crm("DELETE", "/_control/faults")
        self.stack.aurinko("DELETE", "/_control/faults")

    def writes(self) -> tuple[int, int]:
        box = self.stack.aurinko("GET", "/_control/stats").json()["byOperation"]
        crm = self.stack.crm("GET", "/_control/stats").json()["byMethod"]
        made = sum(n for op, n in box.items() if op.rsplit(".", 1)[-1] in WRITES)
        return made, sum(crm.get(m, 0) for m in ("POST", "PATCH", "DELETE"))


WRITES = ("create", "update", "delete")
