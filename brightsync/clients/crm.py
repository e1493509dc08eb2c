"""Client of a tenant's CRM connector (the contract: shared/spec/crm-connector.md).

One `CrmClient` serves one sync run of one organisation:

* every request waits for the organisation's shared per-second budget (`crm:{org id}`), and
  goes through the shared retry policy (408/429/5xx retried with backoff and Retry-After;
  any other 4xx raises `FinalError` with the connector's message, for the caller to record);
* `capabilities()` discovers what the connector offers with harmless requests (lookups of
  values that match nothing, GETs of made-up ids, OPTIONS/Allow), cached on the client and
  overridable per org in `org.settings["crm"]["capabilities"]`; `supports(name)` probes a
  single capability lazily. Discovery never sends a write (POST, PATCH, PUT, DELETE) to a
  customer's CRM: without OPTIONS/Allow a write is presumed offered where its resource can
  be read, and the first real write answered 404/405/501 marks it unsupported for good;
* contact and company lookups are cached for the life of the client (= the run): an address
  asked once, hit or miss, is not asked again; `forget()` drops entries;
* list endpoints are followed to the end whichever paging style the connector uses
  (`pageToken`/`nextPageToken` or `limit`/`offset`), as iterators.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from brightsync import __version__
from brightsync.clients.http import (
    AuthError,
    FinalError,
    HttpClient,
    NotFoundError,
    RetryPolicy,
)
from brightsync.coordination import wait_for_budget

if TYPE_CHECKING:
    from brightsync.models.org import Organisation

log = logging.getLogger(__name__)

API = "/api/v1"
_LIST_KEYS = ("records", "items", "data", "results", "value")
_MAX_PAGES = 100_000
_UNKNOWN: Any = object()
_NOUN = {
    "contacts": "contact",
    "companies": "company",
    "emails": "email",
    "events": "event",
    "tasks": "task",
}


class ContractError(FinalError):
    """The connector answered 2xx with something the contract does not allow (e.g. no id)."""


@dataclass(frozen=True)
class Capabilities:
    """What a connector offers. The two required operations are assumed."""

    email_create: bool = True
    email_lookup: bool = False
    email_get: bool = False
    email_update: bool = False
    contact_lookup: bool = True
    contact_get: bool = False
    contact_create: bool = False
    contact_update: bool = False
    contact_delete: bool = False
    contacts_since: bool = False
    deleted_contacts: bool = False
    company_lookup_domain: bool = False
    company_lookup_name: bool = False
    company_get: bool = False
    company_create: bool = False
    opportunities: bool = False
    users: bool = False  # GET /users/lookup
    users_me: bool = False
    events_window: bool = False
    events_since: bool = False
    deleted_events: bool = False
    event_get: bool = False
    event_create: bool = False
    event_update: bool = False
    event_delete: bool = False
    tasks_since: bool = False
    deleted_tasks: bool = False
    task_get: bool = False
    task_create: bool = False
    task_update: bool = False
    task_delete: bool = False

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def everything(cls) -> Capabilities:
        return cls(**dict.fromkeys(cls.names(), True))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Capabilities:
        return cls(**{k: bool(v) for k, v in data.items() if k in cls.names()})

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)

    @property
    def calendar_two_way(self) -> bool:
        return self.events_since and self.event_create and self.event_update

    @property
    def contacts_two_way(self) -> bool:
        return self.contacts_since and self.contact_create and self.contact_update

    @property
    def tasks_two_way(self) -> bool:
        return self.tasks_since and self.task_create and self.task_update


def instant(value: datetime | str) -> str:
    """A `since`/window value: ISO 8601 with an offset (naive datetimes are taken as UTC)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def normalise_email(address: str) -> str:
    return address.strip().strip("<>").strip().lower()


def _msg_id(value: Any) -> str:
    return str(value or "").strip().strip("<>").strip()


def _addresses(contact: dict[str, Any]) -> set[str]:
    raw = contact.get("emailAddresses") or []
    if isinstance(raw, str):  # tolerate a comma-joined string (a contract violation)
        raw = raw.split(",")
    return {normalise_email(a) for a in raw if isinstance(a, str)}


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        if v:
            seen.setdefault(v, None)
    return list(seen)


class CrmClient(HttpClient):
    """The connector API of one organisation's business system."""

    def __init__(
        self,
        base_url: str,
        auth_type: str,
        secret: dict[str, Any],
        *,
        rate_key: str,
        rate_limit: int = 20,
        policy: RetryPolicy | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        capabilities: dict[str, Any] | None = None,
        lookup_batch_size: int = 50,
        page_size: int = 100,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": f"BrightSync/{__version__}"}
        auth: tuple[str, str] | None = None
        if auth_type == "bearer":
            if not secret.get("token"):
                raise ValueError("bearer auth needs a token")
            headers["Authorization"] = f"Bearer {secret['token']}"
        elif auth_type == "basic":
            if secret.get("username") is None or secret.get("password") is None:
                raise ValueError("basic auth needs a username and a password")
            auth = (str(secret["username"]), str(secret["password"]))
        else:
            raise ValueError(f"auth_type is 'bearer' or 'basic', not {auth_type!r}")
        super().__init__(
            base_url=base_url.rstrip("/"),
            headers=headers,
            auth=auth,
            timeout=timeout,
            policy=policy or RetryPolicy(),
            before_request=self._wait_for_budget,
            sleep=sleep,
            session=session,
        )
        self.auth_type = auth_type
        self.rate_key = rate_key
        self.rate_limit = rate_limit
        self.lookup_batch_size = lookup_batch_size
        self.page_size = page_size
        self._overrides: dict[str, bool] = {}
        for name, value in (capabilities or {}).items():
            if name in Capabilities.names():
                self._overrides[name] = bool(value)
            else:
                log.warning("ignoring unknown CRM capability override %r", name)
        self._caps: dict[str, bool] = {}
        self._nonce = uuid.uuid4().hex[:12]  # made-up ids and values the probes ask about
        self._allow_cache: dict[str, set[str] | None] = {}
        self._options_usable: bool | None = None
        self._no_route: Any = _UNKNOWN
        self._no_patch: set[str] = set()
        self._contacts_by_email: dict[str, list[dict[str, Any]]] = {}
        self._companies: dict[tuple[str, str], list[dict[str, Any]]] = {}

    @classmethod
    def for_org(
        cls, org: Organisation, *, rate_limit: int | None = None, **kwargs: Any
    ) -> CrmClient:
        """The client of an organisation's CRM (decrypts its stored credentials)."""
        from brightsync.config import get_settings
        from brightsync.crypto import decrypt_json

        settings = get_settings()
        crm_settings = (org.settings or {}).get("crm") or {}
        kwargs.setdefault("capabilities", crm_settings.get("capabilities"))
        kwargs.setdefault("timeout", (5.0, float(settings.crm_timeout_seconds)))
        return cls(
            org.crm_base_url,
            org.crm_auth_type,
            decrypt_json(org.crm_secret_enc),
            rate_key=f"crm:{org.id}",
            rate_limit=rate_limit or settings.crm_rate_per_second,
            **kwargs,
        )

    def __repr__(self) -> str:  # never the credentials
        return f"CrmClient({self.base_url!r}, {self.auth_type!r}, rate_key={self.rate_key!r})"

    def _wait_for_budget(self) -> None:
        wait_for_budget(self.rate_key, self.rate_limit)

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _body(response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ContractError(
                f"expected JSON, got {response.headers.get('Content-Type', 'no content type')}",
                status=response.status_code,
                method=response.request.method or "",
                url=response.url,
            ) from None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._body(self.request(method, path, **kwargs))

    def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = self._call(method, path, **kwargs)
        if not isinstance(body, dict):
            raise ContractError(
                f"expected a JSON object, got {type(body).__name__}", method=method, url=path
            )
        return body

    def _list(self, path: str, params: dict[str, Any]) -> list[Any]:
        body = self._call("GET", path, params=params)
        items, _ = self._page_items(body, path)
        return items

    @staticmethod
    def _page_items(body: Any, path: str) -> tuple[list[Any], str | None]:
        if isinstance(body, list):
            return body, None
        if isinstance(body, dict):
            token = body.get("nextPageToken") or None
            for key in _LIST_KEYS:
                if isinstance(body.get(key), list):
                    return body[key], token
        raise ContractError(
            f"expected a list or a page of records, got {type(body).__name__}",
            method="GET",
            url=path,
        )

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every record of a list, following nextPageToken, or limit/offset for plain arrays."""
        base = {k: v for k, v in params.items() if v is not None}
        limit = self.page_size
        token: str | None = None
        offset = 0
        first_ids: Any = None
        for _ in range(_MAX_PAGES):
            query = {**base, "limit": limit}
            if token:
                query["pageToken"] = token
            elif offset:
                query["offset"] = offset
            body = self._call("GET", path, params=query)
            items, next_token = self._page_items(body, path)
            ids = [i.get("id") if isinstance(i, dict) else i for i in items[:3]]
            if offset and not token and ids and ids == first_ids:
                log.warning("%s ignores offset; stopping after the first page", path)
                return
            if first_ids is None:
                first_ids = ids
            yield from items
            if next_token:
                if next_token == token:
                    raise ContractError("nextPageToken repeats itself", method="GET", url=path)
                token = next_token
            elif isinstance(body, list) and len(items) == limit:
                offset += len(items)  # offset paging: a full page may have a successor
            else:
                return
        raise ContractError(f"more than {_MAX_PAGES} pages", method="GET", url=path)

    @staticmethod
    def _deleted(items: Iterator[Any]) -> Iterator[dict[str, Any]]:
        for item in items:
            yield item if isinstance(item, dict) else {"id": item}

    def _created(
        self, collection: str, payload: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """POST a new record. A lost answer raises MaybeCreated (see sync/creates.py)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        try:
            response = self.request("POST", f"{API}/{collection}", json=payload, headers=headers)
        except FinalError as exc:
            # No create here: learned from the write itself, never probed with one (a POST
            # to a collection has no record to be missing, so 404 means no route too).
            self._learned_unsupported(f"{_NOUN[collection]}_create", exc.status, (404, 405, 501))
            raise
        body = self._body(response)
        if isinstance(body, dict) and body.get("id") not in (None, ""):
            return body
        location = response.headers.get("Location")
        if body is None and location:
            return {**payload, "id": location.rstrip("/").rsplit("/", 1)[-1]}
        raise ContractError(
            f"the connector created a record in {collection} but returned no id",
            status=response.status_code,
            body=body,
            method="POST",
            url=response.url,
        )

    def _update(self, collection: str, record_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """PATCH; connectors without PATCH (405/501) get a PUT of the merged record."""
        path = f"{API}/{collection}/{quote(str(record_id), safe='')}"
        if collection not in self._no_patch:
            try:
                body = self._call("PATCH", path, json=patch)
                return body if isinstance(body, dict) else {"id": record_id, **patch}
            except FinalError as exc:
                if exc.status not in (405, 501):
                    raise
                self._no_patch.add(collection)
        try:
            current = self._object("GET", path)
        except FinalError as exc:
            if exc.status not in (405, 501):
                raise
            current = {}
        full = {k: v for k, v in {**current, **patch}.items() if k not in ("id", "lastModifiedAt")}
        try:
            body = self._call("PUT", path, json=full)
        except FinalError as exc:
            self._learned_unsupported(f"{_NOUN[collection]}_update", exc.status)
            raise
        return body if isinstance(body, dict) else {"id": record_id, **full}

    def _delete(self, collection: str, record_id: str) -> bool:
        """True when deleted, False when it was already gone (404)."""
        try:
            self.request("DELETE", f"{API}/{collection}/{quote(str(record_id), safe='')}")
        except NotFoundError:
            return False
        except FinalError as exc:
            self._learned_unsupported(f"{_NOUN[collection]}_delete", exc.status)
            raise
        return True

    def _get(self, collection: str, record_id: str) -> dict[str, Any]:
        return self._object("GET", f"{API}/{collection}/{quote(str(record_id), safe='')}")

    # ------------------------------------------------------------------ capabilities

    def capabilities(self) -> Capabilities:
        """Everything the connector offers (probes what is not known yet)."""
        return Capabilities(**{name: self.supports(name) for name in Capabilities.names()})

    def supports(self, name: str) -> bool:
        """One capability: the org's override, else a cached or fresh probe."""
        if name in self._overrides:
            return self._overrides[name]
        if name not in self._caps:
            probe = self._probes().get(name)
            if probe is None:
                raise KeyError(f"unknown capability {name!r}")
            self._caps[name] = probe()
            log.debug("CRM %s: %s=%s", self.base_url, name, self._caps[name])
        return self._caps[name]

    def probed(self) -> dict[str, bool]:
        """What this client has found out by probing (not the overrides it was given)."""
        return dict(self._caps)

    def forget_capabilities(self) -> None:
        self._caps.clear()
        self._allow_cache.clear()
        self._options_usable = None
        self._no_route = _UNKNOWN

    def _probes(self) -> dict[str, Callable[[], bool]]:
        nonce = self._nonce
        probe_id = f"brightsync-probe-{nonce}"
        nobody = f"brightsync-probe-{nonce}@probe.invalid"
        future = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0)
        later = future + timedelta(hours=1)

        def get_ok(path: str, **params: Any) -> Callable[[], bool]:
            return lambda: self._get_ok(f"{API}/{path}", params)

        def route(path: str, *methods: str) -> Callable[[], bool]:
            return lambda: any(self._route_allows(f"{API}/{path}", m) for m in methods)

        def write(path: str, methods: tuple[str, ...], *readable: str) -> Callable[[], bool]:
            return lambda: self._write_allowed(f"{API}/{path}", methods, readable)

        probes: dict[str, Callable[[], bool]] = {
            "email_create": lambda: True,
            "contact_lookup": lambda: True,
            "email_lookup": get_ok("emails", rfc822MsgId=f"<{nonce}@probe.invalid>"),
            "email_get": route(f"emails/{probe_id}", "GET"),
            "email_update": write(f"emails/{probe_id}", ("PATCH", "PUT"), "email_get"),
            "contacts_since": get_ok("contacts", since=instant(future), limit=1),
            "deleted_contacts": get_ok("deletedContacts", since=instant(future), limit=1),
            "company_lookup_domain": get_ok("companies/lookup", domain=f"{nonce}.probe.invalid"),
            "company_lookup_name": get_ok("companies/lookup", name=f"BrightSync probe {nonce}"),
            "company_get": route(f"companies/{probe_id}", "GET"),
            "company_create": write("companies", ("POST",), "company_lookup_domain", "company_get"),
            "opportunities": get_ok("opportunities/lookup", contactIds=probe_id),
            "users": get_ok("users/lookup", emails=nobody),
            "users_me": get_ok("users/me"),
            "events_window": get_ok(
                "events", startAt=instant(future), endAt=instant(later), limit=1
            ),
            "events_since": get_ok("events", since=instant(future), limit=1),
            "deleted_events": get_ok("deletedEvents", since=instant(future), limit=1),
            "tasks_since": get_ok("tasks", since=instant(future), limit=1),
            "deleted_tasks": get_ok("deletedTasks", since=instant(future), limit=1),
        }
        readable = {
            "contact": ("contact_get", "contacts_since"),
            "event": ("event_get", "events_since", "events_window"),
            "task": ("task_get", "tasks_since"),
        }
        for noun, collection in (("contact", "contacts"), ("event", "events"), ("task", "tasks")):
            item = f"{collection}/{probe_id}"
            probes[f"{noun}_get"] = route(item, "GET")
            probes[f"{noun}_create"] = write(collection, ("POST",), *readable[noun])
            probes[f"{noun}_update"] = write(item, ("PATCH", "PUT"), *readable[noun])
            probes[f"{noun}_delete"] = write(item, ("DELETE",), *readable[noun])
        return probes

    @staticmethod
    def _unless_dead(exc: FinalError) -> None:
        """A probe's 4xx means "not offered", except 401: the credentials are dead."""
        if exc.status == 401:
            raise exc

    def _get_ok(self, path: str, params: dict[str, Any]) -> bool:
        try:
            self.request("GET", path, params=params)
        except FinalError as exc:
            self._unless_dead(exc)
            return False
        return True

    def _options_work(self) -> bool:
        """Does this connector answer OPTIONS with Allow? Asked of the required POST /emails."""
        if self._options_usable is None:
            allowed = self._options(f"{API}/emails")
            self._options_usable = allowed is not None and "POST" in allowed
        return self._options_usable

    def _options(self, path: str) -> set[str] | None:
        try:
            response = self.request("OPTIONS", path)
        except AuthError as exc:
            if exc.status == 401:
                raise
            return None
        except FinalError as exc:
            return set() if exc.status == 404 else None
        allow = response.headers.get("Allow")
        if allow is None:
            return None
        return {m.strip().upper() for m in allow.split(",") if m.strip()}

    def _allowed(self, path: str) -> set[str] | None:
        """Methods a route answers per OPTIONS/Allow; None when the connector doesn't say."""
        if not self._options_work():
            return None
        if path not in self._allow_cache:
            self._allow_cache[path] = self._options(path)
        return self._allow_cache[path]

    def _no_route_body(self) -> Any:
        """What the connector answers for a path that surely does not exist (its 404 page)."""
        if self._no_route is _UNKNOWN:
            try:
                self.request("GET", f"{API}/brightsync-probe-{self._nonce}/no-such-route")
                self._no_route = object()  # a 2xx: equal to no 404 body
            except FinalError as exc:
                self._unless_dead(exc)
                self._no_route = exc.body
        return self._no_route

    def _route_allows(self, path: str, method: str) -> bool:
        """GET only (probes never write): does this route answer reads?"""
        allowed = self._allowed(path)
        if allowed is not None:
            return method in allowed
        # No OPTIONS: GET a made-up id. 405/501 (or 403) mean not offered; 404 is what a
        # working route says about an unknown record, unless it is the very answer the
        # connector gives for a path that does not exist.
        try:
            self.request("GET", path)
        except FinalError as exc:
            self._unless_dead(exc)
            if exc.status == 404:
                return exc.body != self._no_route_body()
            return exc.status not in (403, 405, 501)
        return True

    def _write_allowed(
        self, path: str, methods: tuple[str, ...], readable: tuple[str, ...]
    ) -> bool:
        """OPTIONS/Allow says; else presumed where the resource can be read (no write is
        ever sent to find out: the first real write's 404/405/501 corrects it)."""
        allowed = self._allowed(path)
        if allowed is not None:
            return any(m in allowed for m in methods)
        return any(self.supports(name) for name in readable)

    def _learned_unsupported(
        self, name: str, status: int | None, absent: tuple[int, ...] = (405, 501)
    ) -> None:
        """A real write answered "no such operation": remember it (for the next hour too)."""
        if status in absent and name not in self._overrides:
            log.info("CRM %s: %s is not offered (%s)", self.base_url, name, status)
            self._caps[name] = False

    # ------------------------------------------------------------------ users

    def users_me(self) -> dict[str, Any]:
        return self._object("GET", f"{API}/users/me")

    def lookup_users(self, emails: Iterable[str]) -> list[dict[str, Any]]:
        wanted = _unique(normalise_email(e) for e in emails)
        out: list[dict[str, Any]] = []
        for chunk in _chunks(wanted, self.lookup_batch_size):
            out += self._list(f"{API}/users/lookup", {"emails": ",".join(chunk)})
        return out

    # ------------------------------------------------------------------ contacts

    def contacts_by_email(self, emails: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The contacts of each address (lower-cased), asking only for addresses not yet known."""
        wanted = _unique(normalise_email(e) for e in emails)
        missing = [e for e in wanted if e not in self._contacts_by_email]
        for chunk in _chunks(missing, self.lookup_batch_size):
            found = self._list(f"{API}/contacts/lookup", {"emails": ",".join(chunk)})
            hits: dict[str, list[dict[str, Any]]] = {e: [] for e in chunk}
            for contact in found:
                if not isinstance(contact, dict):
                    raise ContractError("contacts lookup returned a non-object", url="lookup")
                owned = _addresses(contact)
                matched = [e for e in chunk if e in owned] or (chunk if len(chunk) == 1 else [])
                for e in matched:
                    hits[e].append(contact)
            self._contacts_by_email.update(hits)
        return {e: list(self._contacts_by_email[e]) for e in wanted}

    def lookup_contacts(self, emails: Iterable[str]) -> list[dict[str, Any]]:
        """Contacts owning any of the addresses (batched, cached per client, case-insensitive)."""
        out: dict[str, dict[str, Any]] = {}
        for contacts in self.contacts_by_email(emails).values():
            for contact in contacts:
                out.setdefault(str(contact.get("id")), contact)
        return list(out.values())

    def forget(self, emails: Iterable[str]) -> None:
        """Drop cached lookups of these addresses (the next lookup asks the connector)."""
        for e in emails:
            self._contacts_by_email.pop(normalise_email(e), None)

    def _forget_contact(self, contact_id: Any) -> None:
        for address, contacts in list(self._contacts_by_email.items()):
            if any(str(c.get("id")) == str(contact_id) for c in contacts):
                del self._contacts_by_email[address]

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        return self._get("contacts", contact_id)

    def create_contact(
        self, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        created = self._created("contacts", payload, idempotency_key)
        # Known addresses now have this contact too; unknown ones stay unknown.
        for address in _addresses({**payload, **created}):
            if address in self._contacts_by_email:
                self._contacts_by_email[address].append(created)
        return created

    def update_contact(self, contact_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        self._forget_contact(contact_id)
        updated = self._update("contacts", contact_id, patch)
        self.forget(_addresses({**patch, **updated}))
        return updated

    def delete_contact(self, contact_id: str) -> bool:
        self._forget_contact(contact_id)
        return self._delete("contacts", contact_id)

    def contacts_since(self, since: datetime | str | None = None) -> Iterator[dict[str, Any]]:
        """Contacts changed at or after `since` (all contacts without it), every page."""
        return self._pages(f"{API}/contacts", {"since": instant(since) if since else None})

    def deleted_contacts_since(self, since: datetime | str) -> Iterator[dict[str, Any]]:
        """`{id, deletedAt}` of contacts deleted at or after `since`."""
        return self._deleted(self._pages(f"{API}/deletedContacts", {"since": instant(since)}))

    # ------------------------------------------------------------------ companies

    def lookup_companies(
        self, domain: str | None = None, name: str | None = None, *, refresh: bool = False
    ) -> list[dict[str, Any]]:
        """Companies by domain or by name (cached per client; `refresh` asks again)."""
        if bool(domain) == bool(name):
            raise ValueError("pass exactly one of domain or name")
        key = ("domain", domain.strip().lower()) if domain else ("name", str(name).strip())
        if refresh or key not in self._companies:
            self._companies[key] = self._list(f"{API}/companies/lookup", {key[0]: key[1]})
        return list(self._companies[key])

    def get_company(self, company_id: str) -> dict[str, Any]:
        return self._get("companies", company_id)

    def create_company(
        self, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        created = self._created("companies", payload, idempotency_key)
        for domain in payload.get("domains") or []:
            self._companies.pop(("domain", str(domain).lower()), None)
        self._companies.pop(("name", str(payload.get("name", "")).strip()), None)
        return created

    # ------------------------------------------------------------------ opportunities

    def lookup_opportunities(
        self, contact_ids: Iterable[str] = (), company_ids: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        contacts = _unique(str(c) for c in contact_ids)
        companies = _unique(str(c) for c in company_ids)
        if not contacts and not companies:
            return []
        params = {
            "contactIds": ",".join(contacts) or None,
            "companyIds": ",".join(companies) or None,
        }
        return self._list(f"{API}/opportunities/lookup", {k: v for k, v in params.items() if v})

    # ------------------------------------------------------------------ emails

    def find_emails(self, rfc822_msg_id: str) -> list[dict[str, Any]]:
        """Logged emails with this Message-ID (look before creating).

        Records carrying a different rfc822MsgId are dropped: a connector that ignores the
        filter must not make BrightSync believe an email was logged when it was not.
        """
        wanted = _msg_id(rfc822_msg_id)
        found = self._list(f"{API}/emails", {"rfc822MsgId": rfc822_msg_id})
        kept = [
            e
            for e in found
            if isinstance(e, dict)
            and (
                "rfc822MsgId" not in e
                or e["rfc822MsgId"] is None
                or _msg_id(e["rfc822MsgId"]) == wanted
            )
        ]
        if len(kept) != len(found):
            log.warning(
                "%s: email lookup returned %d records of other messages",
                self.base_url,
                len(found) - len(kept),
            )
        return kept

    def create_email(
        self, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return self._created("emails", payload, idempotency_key)

    def get_email(self, email_id: str) -> dict[str, Any]:
        return self._get("emails", email_id)

    def update_email(self, email_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """PATCH, or PUT of the merged record when the connector answers PATCH with 405."""
        return self._update("emails", email_id, patch)

    # ------------------------------------------------------------------ events

    def events_in_window(
        self, start: datetime | str, end: datetime | str
    ) -> Iterator[dict[str, Any]]:
        return self._pages(f"{API}/events", {"startAt": instant(start), "endAt": instant(end)})

    def events_since(self, since: datetime | str) -> Iterator[dict[str, Any]]:
        return self._pages(f"{API}/events", {"since": instant(since)})

    def deleted_events_since(self, since: datetime | str) -> Iterator[dict[str, Any]]:
        return self._deleted(self._pages(f"{API}/deletedEvents", {"since": instant(since)}))

    def get_event(self, event_id: str) -> dict[str, Any]:
        return self._get("events", event_id)

    def create_event(
        self, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return self._created("events", payload, idempotency_key)

    def update_event(self, event_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._update("events", event_id, patch)

    def delete_event(self, event_id: str) -> bool:
        return self._delete("events", event_id)

    # ------------------------------------------------------------------ tasks

    def tasks_since(self, since: datetime | str | None = None) -> Iterator[dict[str, Any]]:
        return self._pages(f"{API}/tasks", {"since": instant(since) if since else None})

    def deleted_tasks_since(self, since: datetime | str) -> Iterator[dict[str, Any]]:
        return self._deleted(self._pages(f"{API}/deletedTasks", {"since": instant(since)}))

    def get_task(self, task_id: str) -> dict[str, Any]:
        return self._get("tasks", task_id)

    def create_task(
        self, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return self._created("tasks", payload, idempotency_key)

    def update_task(self, task_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._update("tasks", task_id, patch)

    def delete_task(self, task_id: str) -> bool:
        return self._delete("tasks", task_id)
