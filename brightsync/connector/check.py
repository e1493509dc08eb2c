"""`brightsync connector check BASE_URL`: a conformance report of a provider's connector.

The check behaves like BrightSync will: it creates a contact, a company, an email, an event
and a task with unique, clearly labelled test data, looks them up again, changes and deletes
what the contract lets it delete, and validates every answer against the contract's schemas.
Per capability it reports PASS, FAIL (with the reason) or SKIP (not offered, or could not be
tried); only the required capabilities (POST /emails, contacts lookup) decide the exit code.

Records without a delete operation (emails, companies) stay behind; the report lists them.

It also reports whether creates honour the recommended `Idempotency-Key` header (a repeated
create with the same key answers the original record): a recommendation, never a failure.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
from marshmallow import Schema

from brightsync.connector.schemas import (
    SCHEMAS,
    DeletedRecordSchema,
    record_problems,
)

API = "/api/v1"
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
# The contract requires POST /emails and the contacts lookup (which must ignore case).
# A connector that answers without credentials exposes a tenant's CRM to anyone: as
# disqualifying as one that cannot log an email.
REQUIRED = frozenset({"auth", "emails.create", "contacts.lookup", "contacts.lookup.case"})
_CREATOR = {
    "contact": "contacts.create",
    "contact2": "contacts.create",
    "email": "emails.create",
    "company": "companies.create",
    "event": "events.create",
    "task": "tasks.create",
}
IDEMPOTENCY = "creates.idempotency-key"


@dataclass
class CheckResult:
    name: str
    status: str  # PASS | FAIL | SKIP
    detail: str
    required: bool = False
    offered: bool = True  # False: SKIP because the connector does not offer it

    @property
    def label(self) -> str:
        if self.required:
            return f"{self.name} (required)"
        return f"{self.name} (optional)" if self.status == FAIL else self.name


@dataclass
class CheckReport:
    base_url: str
    run: str
    results: list[CheckResult] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def failed_required(self) -> list[CheckResult]:
        return [r for r in self.results if r.required and r.status == FAIL]

    @property
    def ok(self) -> bool:
        return not self.failed_required

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseUrl": self.base_url,
            "run": self.run,
            "ok": self.ok,
            "results": [asdict(r) for r in self.results],
            "leftovers": self.leftovers,
        }


def format_report(report: CheckReport) -> str:
    width = max((len(r.label) for r in report.results), default=10) + 2
    lines = [f"BrightSync connector check of {report.base_url} (run {report.run})", ""]
    for r in report.results:
        lines.append(f"  {r.status:<5} {r.label:<{width}} {r.detail}")
    passed = sum(r.status == PASS for r in report.results)
    failed = [r for r in report.results if r.status == FAIL]
    absent = sum(r.status == SKIP and not r.offered for r in report.results)
    skipped = sum(r.status == SKIP and r.offered for r in report.results)
    lines += [
        "",
        f"Summary: {passed} passed, {len(failed)} failed "
        f"({len(report.failed_required)} required), {absent} not offered, {skipped} skipped.",
    ]
    if report.ok:
        optional = ", ".join(r.name for r in failed)
        lines.append(
            "Result: PASS: the required capabilities work"
            + (f"; optional ones fail: {optional}" if optional else ".")
        )
    else:
        names = ", ".join(r.name for r in report.failed_required)
        lines.append(f"Result: FAIL: required capabilities fail: {names}")
    idempotency = next((r for r in report.results if r.name == IDEMPOTENCY), None)
    if idempotency is not None and idempotency.status != PASS:
        lines.append(
            "Recommended: honour the Idempotency-Key header on creates (the same key again "
            "answers the original record), so a create whose answer was lost is never doubled."
        )
    if report.leftovers:
        lines.append(
            "Test records left in the CRM (no delete operation): " + ", ".join(report.leftovers)
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTTP


@dataclass
class Reply:
    method: str
    path: str
    status: int | None  # None: no answer (connection error, timeout)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive from requests
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def absent(self) -> bool:
        """The answer of a route or method that is not there."""
        return self.status in (404, 405, 501)

    def describe(self) -> str:
        if self.status is None:
            return f"{self.method} {self.path}: no answer ({self.error})"
        message = ""
        if isinstance(self.body, dict):
            message = str(self.body.get("message") or self.body.get("error") or "")
        elif self.error:
            message = self.error
        return f"{self.method} {self.path} -> {self.status}" + (
            f" {message}"[:160] if message else ""
        )


class Failed(Exception):
    """A check's verdict: FAIL with this reason."""


class NotOffered(Exception):
    """A check's verdict: SKIP, the connector does not offer the operation."""


class Skipped(Exception):
    """A check's verdict: SKIP, it could not be tried (a prerequisite is missing)."""


def _items(reply: Reply) -> list[Any]:
    """The records of a list answer: a plain array or a page `{records, nextPageToken}`."""
    if isinstance(reply.body, list):
        return reply.body
    if isinstance(reply.body, dict):
        for key in ("records", "items", "data", "results"):
            if isinstance(reply.body.get(key), list):
                return reply.body[key]
    raise Failed(f"{reply.method} {reply.path}: expected a JSON array, got {_kind(reply.body)}")


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _ids(records: list[Any]) -> list[str]:
    return [str(r.get("id")) if isinstance(r, dict) else str(r) for r in records]


def _when(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


class _Checker:
    def __init__(
        self,
        base_url: str,
        auth: dict[str, str],
        timeout: float,
        session: requests.Session | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout
        self.headers = {"Accept": "application/json", "User-Agent": "BrightSync-connector-check"}
        self.basic: tuple[str, str] | None = None
        if auth.get("token"):
            self.headers["Authorization"] = f"Bearer {auth['token']}"
        elif auth.get("username") is not None:
            self.basic = (auth["username"], auth.get("password") or "")
        self.run = uuid.uuid4().hex[:8]
        self.report = CheckReport(self.base_url, self.run)
        self.domain = f"{self.run}.brightsync-check.example"
        self.started = datetime.now(UTC)
        self.records: dict[str, dict[str, Any]] = {}  # what this run created, by role
        self.me: dict[str, Any] | None = None

    # ---- plumbing

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        auth: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        send = dict(self.headers) if auth else {"Accept": "application/json"}
        send.update(headers or {})
        for attempt in range(3):
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json_body,
                    headers=send,
                    auth=self.basic if auth else None,
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                return Reply(method, path, None, error=f"{type(exc).__name__}: {exc}"[:300])
            retry_after = response.headers.get("Retry-After", "")
            # A create answered 503 may have been made: only a 429 is surely not processed.
            again = (429,) if method == "POST" else (429, 503)
            if response.status_code in again and attempt < 2:
                time.sleep(min(5.0, float(retry_after)) if retry_after.isdigit() else 1.0)
                continue
            break
        body: Any = None
        error = ""
        if response.content:
            try:
                body = response.json()
            except ValueError:
                error = f"not JSON: {response.text[:80]!r}"
        return Reply(method, path, response.status_code, body, response.headers, error)

    def record(self, name: str, check: Callable[[], str]) -> bool:
        required = name in REQUIRED
        try:
            detail = check()
        except NotOffered as exc:
            status, offered = (FAIL, False) if required else (SKIP, False)
            result = CheckResult(name, status, f"not offered: {exc}", required, offered)
        except Skipped as exc:
            result = CheckResult(name, SKIP, str(exc), required)
        except Failed as exc:
            result = CheckResult(name, FAIL, str(exc), required)
        except Exception as exc:  # an answer odd enough to trip the check itself
            result = CheckResult(name, FAIL, f"unexpected answer: {exc!r}"[:300], required)
        else:
            result = CheckResult(name, PASS, detail, required)
        self.report.results.append(result)
        return result.status == PASS

    def expect(self, reply: Reply, *, what: str) -> Reply:
        """A 2xx answer, or the verdict: not offered (404/405/501) or failed."""
        if reply.ok:
            return reply
        if reply.absent:
            raise NotOffered(reply.describe())
        raise Failed(f"{what}: {reply.describe()}")

    def shape(self, resource: str | type[Schema], record: Any, where: str) -> None:
        schema = SCHEMAS[resource] if isinstance(resource, str) else resource
        problems = record_problems(schema, record)
        if problems:
            raise Failed(f"{where}: " + "; ".join(problems[:4]))

    def get_list(self, path: str, params: dict[str, Any], what: str) -> list[Any]:
        reply = self.expect(self.call("GET", path, params=params), what=what)
        return _items(reply)

    def follow(self, path: str, params: dict[str, Any], what: str) -> list[Any]:
        """Every record of a list, whichever paging style (bounded)."""
        out: list[Any] = []
        query = dict(params)
        for _ in range(50):
            reply = self.expect(self.call("GET", path, params=query), what=what)
            items = _items(reply)
            out += items
            token = reply.body.get("nextPageToken") if isinstance(reply.body, dict) else None
            if not token:
                return out
            query = {**params, "pageToken": token}
        raise Failed(f"{what}: more than 50 pages")

    def created(
        self, resource: str, payload: dict[str, Any], role: str, key: str | None = None
    ) -> dict[str, Any]:
        path = f"{API}/{resource}"
        headers = {"Idempotency-Key": key} if key else None
        reply = self.expect(
            self.call("POST", path, json_body=payload, headers=headers), what="create"
        )
        body = reply.body
        if body is None and reply.headers.get("Location"):
            body = {**payload, "id": reply.headers["Location"].rstrip("/").rsplit("/", 1)[-1]}
        if not isinstance(body, dict):
            raise Failed(f"POST {path} -> {reply.status} with {_kind(body)} instead of the record")
        if body.get("id") in (None, ""):
            raise Failed(f"POST {path} -> {reply.status} but the answer carries no id")
        self.records[role] = body  # it exists even if its shape is wrong
        self.shape(resource, body, f"POST {path} answer")
        return body

    def path_of(self, resource: str, record: dict[str, Any]) -> str:
        return f"{API}/{resource}/{quote(str(record['id']), safe='')}"

    def allows(self, path: str, method: str) -> bool | None:
        reply = self.call("OPTIONS", path)
        if reply.ok and "Allow" in reply.headers:
            return method in {m.strip().upper() for m in reply.headers["Allow"].split(",")}
        return None

    def need(self, role: str, why: str | None = None) -> dict[str, Any]:
        """The record this run created in `role`, or SKIP saying why there is none."""
        if role in self.records:
            return self.records[role]
        if why is None:
            creator = _CREATOR[role]
            try:
                result = self.report.result(creator)
            except KeyError:
                state = "did not run"
            else:
                state = {PASS: "passed", FAIL: "failed", SKIP: "was skipped"}[result.status]
                state = "is not offered" if not result.offered else state
            why = f"not tried: needs a record made by {creator}, which {state}"
        raise Skipped(why)

    # ---- the checks, in order

    def run_all(self) -> CheckReport:
        nobody = f"nobody-{self.run}@brightsync-check.example"
        self.record("auth", lambda: self.check_auth(nobody))
        self.record("contacts.create", self.check_contacts_create)
        self.record("contacts.lookup", lambda: self.check_contacts_lookup(nobody))
        self.record("contacts.lookup.case", self.check_contacts_lookup_case)
        self.record("contacts.get", lambda: self.check_get("contacts", "contact"))
        self.record("emails.create", self.check_emails_create)
        self.record("emails.lookup", self.check_emails_lookup)
        self.record("emails.get", lambda: self.check_get("emails", "email"))
        self.record("emails.update", self.check_emails_update)
        self.record(
            "contacts.update",
            lambda: self.check_update("contacts", "contact", {"title": "Updated"}),
        )
        self.record("contacts.since", lambda: self.check_since("contacts", "contact"))
        self.record("paging", self.check_paging)
        self.record("contacts.delete", lambda: self.check_delete("contacts", "contact2"))
        self.record("contacts.deleted", lambda: self.check_deleted("contacts", "contact2"))
        self.record("companies.create", self.check_companies_create)
        self.record("companies.lookup.domain", lambda: self.check_company_lookup("domain"))
        self.record("companies.lookup.name", lambda: self.check_company_lookup("name"))
        self.record("companies.get", lambda: self.check_get("companies", "company"))
        self.record("opportunities.lookup", self.check_opportunities)
        self.record("users.me", self.check_users_me)
        self.record("users.lookup", lambda: self.check_users_lookup(nobody))
        self.record(IDEMPOTENCY, self.check_idempotency_key)
        self.two_way("events", "event", self.event_payload(), {"location": "Room 2"})
        self.two_way("tasks", "task", self.task_payload(), {"priority": "high"})
        self.cleanup()
        self.report.leftovers = [
            f"{role.rstrip('0123456789')} {record['id']}"
            for role, record in self.records.items()
            if "." not in role
        ]
        return self.report

    def cleanup(self) -> None:
        """Delete what the contract can delete (the contacts and events/tasks checks did)."""
        if self.report.result("contacts.delete").status != PASS:
            return
        for role in ("contact", "contact3", "contact4"):
            contact = self.records.get(role)
            if contact and self.call("DELETE", self.path_of("contacts", contact)).ok:
                self.records.pop(role)

    def check_idempotency_key(self) -> str:
        """Recommended: the same Idempotency-Key on a second create answers the first record."""
        passed = {r.name for r in self.report.results if r.status == PASS}
        if "contacts.create" in passed:
            resource, payload = "contacts", self.contact_payload("idem")
            first_role, second_role = "contact3", "contact4"
        elif "emails.create" in passed:
            resource, payload = "emails", {**self.email_payload(), "msgId": f"idem-{self.run}"}
            first_role, second_role = "email2", "email3"
        else:
            raise Skipped("not tried: needs contacts.create or emails.create to pass")
        key = f"brightsync-check-{self.run}"
        first = self.created(resource, payload, first_role, key)
        second = self.created(resource, payload, second_role, key)
        if str(second["id"]) != str(first["id"]):
            raise NotOffered(
                f"a second POST {API}/{resource} with the same Idempotency-Key made another "
                f"record ({second['id']} after {first['id']}); recommended: answer it with "
                "the original"
            )
        self.records.pop(second_role)
        return f"a repeated POST {API}/{resource} with the same key answers the original record"

    def check_auth(self, nobody: str) -> str:
        path = f"{API}/contacts/lookup"
        params = {"emails": nobody}
        mine = self.call("GET", path, params=params)
        if mine.status in (401, 403):
            raise Failed(f"the credentials given are refused: {mine.describe()}")
        anonymous = self.call("GET", path, params=params, auth=False)
        wrong = self.call(
            "GET",
            path,
            params=params,
            auth=False,
            headers={"Authorization": f"Bearer wrong-{self.run}"},
        )
        for reply, who in ((anonymous, "without credentials"), (wrong, "with a wrong token")):
            if reply.ok:
                raise Failed(
                    f"a request {who} was answered {reply.status}: anyone can read this CRM"
                )
            if reply.status not in (401, 403):
                raise Failed(f"a request {who} got {reply.describe()} instead of 401/403")
        return f"requests without or with wrong credentials get {anonymous.status}/{wrong.status}"

    def contact_payload(self, tag: str) -> dict[str, Any]:
        return {
            "firstName": "Connector",
            "lastName": f"Check {self.run} {tag}",
            "emailAddresses": [
                f"check-{self.run}-{tag}@{self.domain}",
                f"check-{self.run}-{tag}-alt@{self.domain}",
            ],
            "phoneNumbers": ["+1 555 0100"],
            "title": "Conformance check",
        }

    def address(self, tag: str) -> str:
        return f"check-{self.run}-{tag}@{self.domain}"

    def check_contacts_create(self) -> str:
        first = self.created("contacts", self.contact_payload("a"), "contact")
        self.records["contact.created"] = dict(first)
        second = self.created("contacts", self.contact_payload("b"), "contact2")
        return f"created contacts {first['id']} and {second['id']}"

    def lookup(self, addresses: str) -> list[Any]:
        records = self.get_list(
            f"{API}/contacts/lookup", {"emails": addresses}, what="contacts lookup"
        )
        for record in records:
            self.shape("contacts", record, "contacts lookup answer")
        return records

    def check_contacts_lookup(self, nobody: str) -> str:
        if self.lookup(nobody):
            raise Failed(f"lookup of {nobody} (nobody's address) returned contacts")
        if "contact" not in self.records:
            return "answers; matching not verified (no test contact could be created)"
        one, two = self.records["contact"]["id"], self.records.get("contact2", {}).get("id")
        if str(one) not in _ids(self.lookup(self.address("a"))):
            raise Failed(f"lookup of {self.address('a')} did not return contact {one}")
        if str(one) not in _ids(self.lookup(f"check-{self.run}-a-alt@{self.domain}")):
            raise Failed(f"lookup by the contact's second address did not return {one}")
        if two is not None:
            found = _ids(self.lookup(f"{self.address('a')},{self.address('b')}"))
            if not {str(one), str(two)} <= set(found):
                raise Failed(f"lookup of two addresses returned {found}, not both {one} and {two}")
        return "finds contacts by any of their addresses, several per call; [] for unknown"

    def check_contacts_lookup_case(self) -> str:
        contact = self.need("contact")
        shouted = self.address("a").upper()
        if str(contact["id"]) not in _ids(self.lookup(shouted)):
            raise Failed(
                f"lookup of {shouted} did not return contact {contact['id']} stored as "
                f"{self.address('a')}: lookups must ignore case"
            )
        return "matches addresses case-insensitively"

    def check_get(self, resource: str, role: str) -> str:
        record = self.need(role)
        path = self.path_of(resource, record)
        reply = self.call("GET", path)
        if reply.status == 404 and self.allows(path, "GET") is not False:
            raise Failed(f"{reply.describe()} for the {role} just created")
        body = self.expect(reply, what=f"load {role}").body
        self.shape(resource, body, f"GET {path} answer")
        if str(body.get("id")) != str(record["id"]):
            raise Failed(f"GET {path} returned id {body.get('id')}")
        return f"loads {role} {record['id']}"

    def email_payload(self) -> dict[str, Any]:
        contact = self.records.get("contact")
        return {
            "msgId": f"check-{self.run}",
            "syncThreadId": f"thread-{self.run}",
            "inReplyTo": None,
            "receivedAt": self.started.isoformat(),
            "rfc822MsgId": f"<check-{self.run}@brightsync-check.example>",
            "subject": f"BrightSync connector check {self.run}",
            "fromAddress": self.address("a"),
            "fromName": "Connector Check",
            "toAddresses": [f"owner-{self.run}@brightsync-check.example"],
            "ccAddresses": [],
            "bccAddresses": [],
            "textBody": "A test email logged by `brightsync connector check`.",
            "htmlBody": "<p>A test email logged by <code>brightsync connector check</code>.</p>",
            "attachments": [
                {
                    "name": "check.txt",
                    "mimeType": "text/plain",
                    "size": 5,
                    "inline": False,
                    "contentId": None,
                    "content": base64.b64encode(b"hello").decode(),
                }
            ],
            "relatedTo": {
                "contacts": [contact["id"]] if contact else [],
                "companies": [],
                "opportunities": [],
            },
        }

    def check_emails_create(self) -> str:
        email = self.created("emails", self.email_payload(), "email")
        return f"logged email {email['id']} with every contract field"

    def check_emails_lookup(self) -> str:
        email = self.need("email")
        msg_id = self.email_payload()["rfc822MsgId"]
        found = self.get_list(f"{API}/emails", {"rfc822MsgId": msg_id}, what="email lookup")
        for record in found:
            self.shape("emails", record, "email lookup answer")
        if str(email["id"]) not in _ids(found):
            raise Failed(
                f"looking up {msg_id} did not find email {email['id']} just created: "
                "look-before-create cannot prevent duplicates"
            )
        others = [
            r for r in found if isinstance(r, dict) and r.get("rfc822MsgId") not in (None, msg_id)
        ]
        unknown = f"<unknown-{self.run}@brightsync-check.example>"
        stray = self.get_list(f"{API}/emails", {"rfc822MsgId": unknown}, what="email lookup")
        if others or stray:
            raise Failed(
                "the lookup returns emails of other messages (is rfc822MsgId ignored?): "
                f"{len(others) + len(stray)} unrelated"
            )
        return "finds the logged email by Message-ID and nothing else"

    def patch_or_put(
        self, resource: str, record: dict[str, Any], change: dict[str, Any]
    ) -> tuple[str, Reply]:
        path = self.path_of(resource, record)
        reply = self.call("PATCH", path, json_body=change)
        if reply.status in (405, 501):
            full = {
                k: v for k, v in {**record, **change}.items() if k not in ("id", "lastModifiedAt")
            }
            return "PUT", self.call("PUT", path, json_body=full)
        if reply.status == 404 and self.allows(path, "PATCH") is False:
            return "PATCH", Reply("PATCH", path, 405)
        return "PATCH", reply

    def verify_change(
        self, resource: str, record: dict[str, Any], change: dict[str, Any], reply: Reply
    ) -> dict[str, Any]:
        current = reply.body if isinstance(reply.body, dict) else None
        loaded = self.call("GET", self.path_of(resource, record))
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

    def check_emails_update(self) -> str:
        email = self.need("email")
        contacts = [r["id"] for k, r in self.records.items() if k in ("contact", "contact2")]
        change: dict[str, Any] = {"subject": f"BrightSync connector check {self.run} (re-linked)"}
        if contacts:
            change["relatedTo"] = {"contacts": contacts, "companies": [], "opportunities": []}
        method, reply = self.patch_or_put("emails", email, change)
        self.expect(reply, what=f"{method} email")
        self.verify_change("emails", email, change, reply)
        return f"re-links a logged email with {method}"

    def check_update(self, resource: str, role: str, change: dict[str, Any]) -> str:
        record = self.need(role)
        before = _when(record.get("lastModifiedAt"))
        method, reply = self.patch_or_put(resource, record, change)
        self.expect(reply, what=f"{method} {role}")
        current = self.verify_change(resource, record, change, reply)
        self.shape(resource, current, f"{method} {role} answer")
        after = _when(current.get("lastModifiedAt"))
        if before and after and after <= before:
            raise Failed(f"lastModifiedAt did not advance ({record['lastModifiedAt']})")
        self.records[f"{role}.before"] = record
        self.records[role] = {**record, **current}
        return f"changes the {role} with {method}; lastModifiedAt advances"

    def check_since(self, resource: str, role: str) -> str:
        if role not in self.records:
            future = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
            self.follow(f"{API}/{resource}", {"since": future}, what="changes since")
            self.need(role)  # offered, but cannot be verified: SKIP with the reason
        record = self.need(role)
        path = f"{API}/{resource}"
        stamp = record.get("lastModifiedAt")
        if _when(stamp) is None:
            self.expect(
                self.call("GET", path, params={"since": self.started.isoformat()}),
                what="changes since",
            )
            raise Failed(f"{resource} carry no lastModifiedAt with an offset ({stamp!r})")
        found = self.follow(path, {"since": stamp}, what="changes since")
        for item in found:
            self.shape(resource, item, f"GET {path}?since answer")
        if str(record["id"]) not in _ids(found):
            earlier = (self.records.get(f"{role}.before") or {}).get("lastModifiedAt")
            hint = ""
            if earlier and str(record["id"]) in _ids(
                self.follow(path, {"since": earlier}, what="changes since")
            ):
                hint = (
                    " (it appears with an earlier since: `since` is exclusive, must be inclusive)"
                )
            raise Failed(f"since={stamp} (the {role}'s own lastModifiedAt) did not return it{hint}")
        future = (datetime.now(UTC) + timedelta(days=3650)).isoformat()
        if str(record["id"]) in _ids(self.follow(path, {"since": future}, what="changes since")):
            raise Failed("since in the future still returns the record: `since` is ignored")
        return "returns changed records, inclusive of `since`"

    def check_paging(self) -> str:
        first = self.need("contact.created", "not tried: needs two created contacts")
        second = self.need("contact2", "not tried: needs two created contacts")
        if self.report.result("contacts.since").status != PASS:
            raise Skipped("not tried: needs contacts.since")
        path, since = f"{API}/contacts", first.get("lastModifiedAt")
        wanted = {str(first["id"]), str(second["id"])}
        reply = self.expect(
            self.call("GET", path, params={"since": since, "limit": 1}), what="page"
        )
        items = _items(reply)
        if len(items) > 1:
            raise NotOffered("`limit` is ignored: lists come whole")
        seen = _ids(items)
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
            page = self.expect(self.call("GET", path, params=params), what="next page")
            items = _items(page)
            if not items:
                break
            seen += _ids(items)
            token = page.body.get("nextPageToken") if isinstance(page.body, dict) else None
        if not wanted <= set(seen):
            raise Failed(f"paging with limit=1 ({style}) did not reach both contacts: {seen}")
        if len(seen) != len(set(seen)):
            raise Failed(f"paging with limit=1 ({style}) repeats records: {seen}")
        return f"pages with limit + {style}"

    def check_delete(self, resource: str, role: str) -> str:
        record = self.need(role)
        path = self.path_of(resource, record)
        reply = self.call("DELETE", path)
        if reply.status == 404 and self.allows(path, "DELETE") is False:
            raise NotOffered(reply.describe())
        self.expect(reply, what=f"delete {role}")
        self.records.pop(role)
        self.records[f"{role}.deleted"] = record
        after = self.call("GET", path)
        if after.ok:
            raise Failed(f"GET {path} still answers {after.status} after the delete")
        if resource == "contacts" and record["id"] in _ids(
            self.lookup(record["emailAddresses"][0])
        ):
            raise Failed("the lookup still returns the deleted contact")
        return f"deletes {role} {record['id']}"

    def check_deleted(self, resource: str, role: str) -> str:
        path = f"{API}/deleted{resource.capitalize()}"
        record = self.records.get(f"{role}.deleted")
        since = (record or {}).get("lastModifiedAt") or (
            self.started - timedelta(minutes=5)
        ).isoformat()
        found = self.follow(path, {"since": since}, what="deleted since")
        for item in found:
            if isinstance(item, dict):
                self.shape(DeletedRecordSchema, item, f"GET {path} answer")
        if record is None:
            raise Skipped("offered; not verified: nothing could be deleted")
        mine = [i for i in found if _ids([i]) == [str(record["id"])]]
        if not mine:
            raise Failed(
                f"the {role} deleted by this check ({record['id']}) is not listed since {since}"
            )
        deleted_at = mine[0].get("deletedAt") if isinstance(mine[0], dict) else None
        if deleted_at and str(record["id"]) not in _ids(
            self.follow(path, {"since": deleted_at}, what="deleted since")
        ):
            raise Failed(f"since={deleted_at} (its own deletedAt) does not list it: not inclusive")
        return "lists deleted records, inclusive of `since`"

    def check_companies_create(self) -> str:
        company = self.created(
            "companies",
            {"name": f"BrightSync Check {self.run}", "domains": [self.domain]},
            "company",
        )
        return f"created company {company['id']}"

    def check_company_lookup(self, by: str) -> str:
        path = f"{API}/companies/lookup"
        unknown = {"domain": f"unknown-{self.domain}", "name": f"Nobody {self.run}"}[by]
        found = self.get_list(path, {by: unknown}, what=f"company lookup by {by}")
        if found:
            raise Failed(f"lookup of {by}={unknown} (unused) returned {len(found)} companies")
        company = self.records.get("company")
        if company is None:
            return "answers; matching not verified (no test company could be created)"
        value = {"domain": self.domain, "name": company.get("name")}[by]
        found = self.get_list(path, {by: value}, what=f"company lookup by {by}")
        for record in found:
            self.shape("companies", record, "company lookup answer")
        if str(company["id"]) not in _ids(found):
            raise Failed(f"lookup of {by}={value} did not return company {company['id']}")
        return f"finds companies by {by}"

    def check_opportunities(self) -> str:
        path = f"{API}/opportunities/lookup"
        params = {"contactIds": f"unknown-{self.run}"}
        if self.get_list(path, params, what="opportunity lookup"):
            raise Failed("a lookup for an unknown contact id returned opportunities")
        contact, company = self.records.get("contact"), self.records.get("company")
        params = {}
        if contact:
            params["contactIds"] = str(contact["id"])
        if company:
            params["companyIds"] = str(company["id"])
        for record in self.get_list(path, params, what="opportunity lookup") if params else []:
            self.shape("opportunities", record, "opportunity lookup answer")
        return "answers lookups by contactIds and companyIds"

    def check_users_me(self) -> str:
        body = self.expect(self.call("GET", f"{API}/users/me"), what="users/me").body
        self.shape("users", body, "GET /users/me answer")
        self.me = body
        return f"the credentials belong to user {body['id']}"

    def check_users_lookup(self, nobody: str) -> str:
        path = f"{API}/users/lookup"
        if self.get_list(path, {"emails": nobody}, what="user lookup"):
            raise Failed(f"lookup of {nobody} returned users")
        if not self.me or not self.me.get("email"):
            return "answers; matching not verified (no users/me)"
        found = self.get_list(path, {"emails": str(self.me["email"])}, what="user lookup")
        for record in found:
            self.shape("users", record, "user lookup answer")
        if str(self.me["id"]) not in _ids(found):
            raise Failed(f"lookup of {self.me['email']} did not return user {self.me['id']}")
        return "finds users by email"

    def event_payload(self) -> dict[str, Any]:
        start = (datetime.now(UTC) + timedelta(days=400)).replace(
            hour=9, minute=0, second=0, microsecond=0
        )
        self.event_start = start
        return {
            "subject": f"BrightSync connector check {self.run}",
            "description": "A test event created by `brightsync connector check`.",
            "startTime": start.isoformat(),
            "endTime": (start + timedelta(minutes=30)).isoformat(),
            "location": "Online",
            "allDay": False,
            "private": False,
            "attendees": [
                {"emailAddress": self.address("a"), "status": "accepted"},
            ],
            "relatedTo": {"contacts": [], "companies": [], "opportunities": []},
        }

    def task_payload(self) -> dict[str, Any]:
        return {
            "subject": f"BrightSync connector check {self.run}",
            "description": "A test task created by `brightsync connector check`.",
            "status": "notStarted",
            "priority": "normal",
            "dueDate": (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0).isoformat(),
        }

    def check_window(self) -> str:
        event = self.need("event")
        path, start = f"{API}/events", self.event_start
        window = {
            "startAt": (start - timedelta(hours=1)).isoformat(),
            "endAt": (start + timedelta(hours=2)).isoformat(),
        }
        found = self.follow(path, window, what="events in a window")
        for item in found:
            self.shape("events", item, "window answer")
            begin, end = _when(item.get("startTime")), _when(item.get("endTime"))
            if (
                begin
                and end
                and (end <= start - timedelta(hours=1) or begin >= start + timedelta(hours=2))
            ):
                raise Failed(f"event {item.get('id')} lies outside the window asked for")
        if str(event["id"]) not in _ids(found):
            raise Failed(f"the window around event {event['id']} does not return it")
        later = {
            "startAt": (start + timedelta(days=1)).isoformat(),
            "endAt": (start + timedelta(days=1, hours=1)).isoformat(),
        }
        if str(event["id"]) in _ids(self.follow(path, later, what="events in a window")):
            raise Failed("a window a day later still returns the event")
        return "returns the events overlapping startAt..endAt"

    def two_way(
        self, resource: str, role: str, payload: dict[str, Any], change: dict[str, Any]
    ) -> None:
        def create() -> str:
            record = self.created(resource, payload, role)
            return f"created {role} {record['id']}"

        self.record(f"{resource}.create", create)
        self.record(f"{resource}.get", lambda: self.check_get(resource, role))
        self.record(f"{resource}.update", lambda: self.check_update(resource, role, change))
        if resource == "events":
            self.record("events.window", self.check_window)
        self.record(f"{resource}.since", lambda: self.check_since(resource, role))
        self.record(f"{resource}.delete", lambda: self.check_delete(resource, role))
        self.record(f"{resource}.deleted", lambda: self.check_deleted(resource, role))


def run_check(
    base_url: str,
    *,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 15.0,
    session: requests.Session | None = None,
) -> CheckReport:
    """Probe a connector at `base_url` and report per capability (see the module doc)."""
    auth = {"token": token or "", "username": username, "password": password}
    checker = _Checker(base_url, {k: v for k, v in auth.items() if v is not None}, timeout, session)
    return checker.run_all()


def report_json(report: CheckReport) -> str:
    return json.dumps(report.as_dict(), indent=2)
