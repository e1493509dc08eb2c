"""What every record resource is checked for: load by id, change (PATCH, or PUT where
PATCH is not offered), changes since (inclusive), paging, delete, and deleted since."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from brightsync.clients.crm_http import is_deleted
from brightsync.connector.checks import contacts
from brightsync.connector.checks.run import CheckRun
from brightsync.connector.contract import API
from brightsync.connector.probe import (
    Failed,
    NotOffered,
    Reply,
    Skipped,
    expect,
    ids,
    items,
    record_path,
    shape,
    when,
)
from brightsync.connector.report import PASS
from brightsync.connector.schemas import DeletedRecordSchema


def get(run: CheckRun, resource: str, role: str) -> str:
    record = run.need(role)
    path = record_path(resource, record)
    reply = run.probe.call("GET", path)
    if reply.status == 404 and run.probe.allows(path, "GET") is not False:
        raise Failed(f"{reply.describe()} for the {role} just created")
    body = expect(reply, what=f"load {role}").body
    shape(resource, body, f"GET {path} answer")
    if str(body.get("id")) != str(record["id"]):
        raise Failed(f"GET {path} returned id {body.get('id')}")
    return f"loads {role} {record['id']}"


def patch_or_put(
    run: CheckRun, resource: str, record: dict[str, Any], change: dict[str, Any]
) -> tuple[str, Reply]:
    path = record_path(resource, record)
    reply = run.probe.call("PATCH", path, json_body=change)
    if reply.status in (405, 501):
        full = {k: v for k, v in {**record, **change}.items() if k not in ("id", "lastModifiedAt")}
        return "PUT", run.probe.call("PUT", path, json_body=full)
    if reply.status == 404 and run.probe.allows(path, "PATCH") is False:
        return "PATCH", Reply("PATCH", path, 405)
    return "PATCH", reply


def verify_change(
    run: CheckRun, resource: str, record: dict[str, Any], change: dict[str, Any], reply: Reply
) -> dict[str, Any]:
    current = reply.body if isinstance(reply.body, dict) else None
    loaded = run.probe.call("GET", record_path(resource, record))
    if loaded.ok and isinstance(loaded.body, dict):
        current = loaded.body
    if current is None:
        return record
    for key, value in change.items():
        if key == "relatedTo":
            got = {str(i) for i in (current.get(key) or {}).get("contacts") or []}
            if not {str(i) for i in value["contacts"]} <= got:
                raise Failed(f"the change of {key} did not stick: {current.get(key)}")
        elif current.get(key) != value:
            raise Failed(f"the change of {key} did not stick: {current.get(key)!r}")
    return current


def update(run: CheckRun, resource: str, role: str, change: dict[str, Any]) -> str:
    record = run.need(role)
    before = when(record.get("lastModifiedAt"))
    method, reply = patch_or_put(run, resource, record, change)
    expect(reply, what=f"{method} {role}")
    current = verify_change(run, resource, record, change, reply)
    shape(resource, current, f"{method} {role} answer")
    after = when(current.get("lastModifiedAt"))
    if before and after and after <= before:
        raise Failed(f"lastModifiedAt did not advance ({record['lastModifiedAt']})")
    run.records[f"{role}.before"] = record
    run.records[role] = {**record, **current}
    return f"changes the {role} with {method}; lastModifiedAt advances"


def since(run: CheckRun, resource: str, role: str) -> str:
    if role not in run.records:
        future = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
        run.probe.follow(f"{API}/{resource}", {"since": future}, what="changes since")
        run.need(role)  # offered, but cannot be verified: SKIP with the reason
    record = run.need(role)
    path = f"{API}/{resource}"
    stamp = record.get("lastModifiedAt")
    if when(stamp) is None:
        expect(
            run.probe.call("GET", path, params={"since": run.started.isoformat()}),
            what="changes since",
        )
        raise Failed(f"{resource} carry no lastModifiedAt with an offset ({stamp!r})")
    found = run.probe.follow(path, {"since": stamp}, what="changes since")
    for item in found:
        shape(resource, item, f"GET {path}?since answer")
    if str(record["id"]) not in ids(found):
        earlier = (run.records.get(f"{role}.before") or {}).get("lastModifiedAt")
        hint = ""
        if earlier and str(record["id"]) in ids(
            run.probe.follow(path, {"since": earlier}, what="changes since")
        ):
            hint = " (it appears with an earlier since: `since` is exclusive, must be inclusive)"
        raise Failed(f"since={stamp} (the {role}'s own lastModifiedAt) did not return it{hint}")
    future = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
    if str(record["id"]) in ids(run.probe.follow(path, {"since": future}, what="changes since")):
        raise Failed("since in the future still returns the record: `since` is ignored")
    return "returns changed records, inclusive of `since`"


def paging(run: CheckRun) -> str:
    first = run.need("contact.created", "not tried: needs two created contacts")
    second = run.need("contact2", "not tried: needs two created contacts")
    if run.report.result("contacts.since").status != PASS:
        raise Skipped("not tried: needs contacts.since")
    path, since = f"{API}/contacts", first.get("lastModifiedAt")
    wanted = {str(first["id"]), str(second["id"])}
    reply = expect(run.probe.call("GET", path, params={"since": since, "limit": 1}), what="page")
    found = items(reply)
    if len(found) > 1:
        raise NotOffered("`limit` is ignored: lists come whole")
    seen = ids(found)
    token = reply.body.get("nextPageToken") if isinstance(reply.body, dict) else None
    style = "pageToken" if isinstance(reply.body, dict) else "offset"
    for _ in range(50):
        if wanted <= set(seen):
            break
        params: dict[str, Any] = {"since": since, "limit": 1}
        if style == "pageToken":
            if not token:
                break
            params["pageToken"] = token
        else:
            params["offset"] = len(seen)
        page = expect(run.probe.call("GET", path, params=params), what="next page")
        found = items(page)
        if not found:
            break
        seen += ids(found)
        token = page.body.get("nextPageToken") if isinstance(page.body, dict) else None
    if not wanted <= set(seen):
        raise Failed(f"paging with limit=1 ({style}) did not reach both contacts: {seen}")
    if len(seen) != len(set(seen)):
        raise Failed(f"paging with limit=1 ({style}) repeats records: {seen}")
    return f"pages with limit + {style}"


def delete(run: CheckRun, resource: str, role: str) -> str:
    record = run.need(role)
    path = record_path(resource, record)
    reply = run.probe.call("DELETE", path)
    if reply.status == 404 and run.probe.allows(path, "DELETE") is False:
        raise NotOffered(reply.describe())
    expect(reply, what=f"delete {role}")
    run.records.pop(role)
    run.records[f"{role}.deleted"] = record
    after = run.probe.call("GET", path)
    if after.ok:
        raise Failed(f"GET {path} still answers {after.status} after the delete")
    if resource == "contacts" and record["id"] in ids(
        contacts.find(run, record["emailAddresses"][0])
    ):
        raise Failed("the lookup still returns the deleted contact")
    return f"deletes {role} {record['id']}"


def deleted(run: CheckRun, resource: str, role: str) -> str:
    path = f"{API}/deleted{resource.capitalize()}"
    record = run.records.get(f"{role}.deleted")
    since = (record or {}).get("lastModifiedAt") or (run.started - timedelta(minutes=5)).isoformat()
    found = run.probe.follow(path, {"since": since}, what="deleted since")
    for item in found:
        if isinstance(item, dict):
            shape(DeletedRecordSchema, item, f"GET {path} answer")
    if record is None:
        raise Skipped("offered; not verified: nothing could be deleted")
    mine = [i for i in found if ids([i]) == [str(record["id"])]]
    if not mine:
        raise Failed(
            f"the {role} deleted by this check ({record['id']}) is not listed since {since}"
        )
    deleted_at = mine[0].get("deletedAt") if isinstance(mine[0], dict) else None
    if deleted_at and str(record["id"]) not in ids(
        run.probe.follow(path, {"since": deleted_at}, what="deleted since")
    ):
        raise Failed(f"since={deleted_at} (its own deletedAt) does not list it: not inclusive")
    return "lists deleted records, inclusive of `since`"


def show_deleted(run: CheckRun, resource: str, role: str) -> str:
    """`?since=…&showDeleted=true` lists the record deleted by this check as a deleted entry
    (`deleted`/`isDeleted: true` or a `deletedAt`): optional, the way to report deletions
    without the deleted* endpoint. It must never list it as a live record."""
    record = run.records.get(f"{role}.deleted")
    if record is None:
        raise Skipped("not tried: nothing could be deleted")
    path = f"{API}/{resource}"
    since = record.get("lastModifiedAt") or (run.started - timedelta(minutes=5)).isoformat()
    params = {"since": since, "showDeleted": "true"}
    reply = run.probe.call("GET", path, params=params)
    if 400 <= reply.status < 500 and reply.status not in (401, 403):
        raise NotOffered(f"{reply.describe()}: the list refuses showDeleted")
    found = [i for i in run.probe.follow(path, params, what="changes since, with deleted")]
    mine = [i for i in found if isinstance(i, dict) and ids([i]) == [str(record["id"])]]
    if not mine:
        raise NotOffered("the list leaves deleted records out (deletions need deleted*)")
    if not is_deleted(mine[0]):
        raise Failed(
            f"{role} {record['id']} was deleted but showDeleted lists it as a live record "
            "(mark it `deleted: true`)"
        )
    return "lists deleted records as {id, deleted: true, lastModifiedAt}"
