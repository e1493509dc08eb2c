"""What a CRM connector offers, and how BrightSync finds out without writing anything.

`Capabilities` names every optional operation of the contract (the two required ones,
POST /emails and the contacts lookup, are assumed). `CapabilityDiscovery` answers "is this
offered?" for one client: the org's override if it has one (`org.settings["crm"]
["capabilities"]`), else a probe made once and cached. Probes are harmless requests: lookups
of values that match nothing, GETs of made-up ids, OPTIONS/Allow. Discovery never sends a
write (POST, PATCH, PUT, DELETE) to a customer's CRM: without OPTIONS/Allow a write is
presumed offered where its resource can be read, and the first real write answered
404/405/501 marks it unsupported for good (`learned_unsupported`).

What a run learned is kept per organisation for an hour by `brightsync.crm.known_capabilities`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from brightsync.clients.crm_http import API, CrmHttp, instant
from brightsync.clients.http import AuthError, FinalError

log = logging.getLogger(__name__)

_UNKNOWN: Any = object()


@dataclass(frozen=True)
class Capabilities:
    """What a connector offers. The two required operations are assumed."""

    email_create: bool = True
    email_lookup: bool = False
    email_get: bool = False
    email_update: bool = False
    email_attachments: bool = False  # POST /emails/{id}/attachments (one file per call)
    contact_lookup: bool = True
    contact_lookup_list: bool = True  # several addresses per lookup (else one per call)
    contact_get: bool = False
    contact_create: bool = False
    contact_update: bool = False
    contact_delete: bool = False
    contacts_since: bool = False
    deleted_contacts: bool = False
    contacts_show_deleted: bool = False  # ?since= with showDeleted=true lists deletions
    company_lookup_domain: bool = False
    company_lookup_name: bool = False
    company_get: bool = False
    company_create: bool = False
    opportunities: bool = False
    users: bool = False  # GET /users/lookup
    leads: bool = False  # GET /leads/lookup
    users_me: bool = False
    events_window: bool = False
    events_since: bool = False
    deleted_events: bool = False
    events_show_deleted: bool = False
    event_get: bool = False
    event_create: bool = False
    event_update: bool = False
    event_delete: bool = False
    calendars: bool = False  # GET /calendars: several calendars per user
    tasks_since: bool = False
    deleted_tasks: bool = False
    tasks_show_deleted: bool = False
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


class CapabilityDiscovery:
    """What one client's connector offers: overrides, then probes made once and cached."""

    def __init__(self, http: CrmHttp, overrides: dict[str, Any] | None = None) -> None:
        self._http = http
        self._overrides: dict[str, bool] = {}
        for name, value in (overrides or {}).items():
            if name in Capabilities.names():
                self._overrides[name] = bool(value)
            else:
                log.warning("ignoring unknown CRM capability override %r", name)
        self._caps: dict[str, bool] = {}
        self._nonce = uuid.uuid4().hex[:12]  # made-up ids and values the probes ask about
        self._allow_cache: dict[str, set[str] | None] = {}
        self._options_usable: bool | None = None
        self._no_route: Any = _UNKNOWN

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
            log.debug("CRM %s: %s=%s", self._http.base_url, name, self._caps[name])
        return self._caps[name]

    def probed(self) -> dict[str, bool]:
        """What has been found out by probing (not the overrides it was given)."""
        return dict(self._caps)

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
            # Found out by the first real lookup of several addresses (`CrmClient`); this
            # probe answers for a report (`capabilities()`) before any lookup was made.
            "contact_lookup_list": self._lookup_takes_lists,
            "email_lookup": get_ok("emails", rfc822MsgId=f"<{nonce}@probe.invalid>"),
            "email_get": route(f"emails/{probe_id}", "GET"),
            "email_update": write(f"emails/{probe_id}", ("PATCH", "PUT"), "email_get"),
            # Only OPTIONS/Allow (or the org's override) says so: presumed from nothing else.
            "email_attachments": write(f"emails/{probe_id}/attachments", ("POST",)),
            "contacts_since": get_ok("contacts", since=instant(future), limit=1),
            "deleted_contacts": get_ok("deletedContacts", since=instant(future), limit=1),
            "company_lookup_domain": get_ok("companies/lookup", domain=f"{nonce}.probe.invalid"),
            "company_lookup_name": get_ok("companies/lookup", name=f"BrightSync probe {nonce}"),
            "company_get": route(f"companies/{probe_id}", "GET"),
            "company_create": write("companies", ("POST",), "company_lookup_domain", "company_get"),
            "opportunities": get_ok("opportunities/lookup", contactIds=probe_id),
            "users": get_ok("users/lookup", emails=nobody),
            "leads": get_ok("leads/lookup", emails=nobody),
            "users_me": get_ok("users/me"),
            "events_window": get_ok(
                "events", startAt=instant(future), endAt=instant(later), limit=1
            ),
            "events_since": get_ok("events", since=instant(future), limit=1),
            "deleted_events": get_ok("deletedEvents", since=instant(future), limit=1),
            "calendars": get_ok("calendars", ownerId=probe_id),
            "tasks_since": get_ok("tasks", since=instant(future), limit=1),
            "deleted_tasks": get_ok("deletedTasks", since=instant(future), limit=1),
            # Not provable by a probe: a connector that ignores unknown parameters answers
            # 200 either way. False until a list answers a deleted entry (`learned_supported`)
            # or the org says so; until then a CRM deletion is found by comparison.
            "contacts_show_deleted": lambda: False,
            "events_show_deleted": lambda: False,
            "tasks_show_deleted": lambda: False,
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
            self._http.request("GET", path, params=params)
        except FinalError as exc:
            self._unless_dead(exc)
            return False
        return True

    def _lookup_takes_lists(self) -> bool:
        """Two made-up addresses in one contacts lookup: a 4xx while one address alone
        answers 2xx means the connector takes one address per call."""
        nobody = [f"brightsync-probe-{self._nonce}-{n}@probe.invalid" for n in (1, 2)]
        path = f"{API}/contacts/lookup"
        if self._get_ok(path, {"emails": ",".join(nobody)}):
            return True
        return not self._get_ok(path, {"emails": nobody[0]})  # both refused: not ours to judge

    def _options_work(self) -> bool:
        """Does this connector answer OPTIONS with Allow? Asked of the required POST /emails."""
        if self._options_usable is None:
            allowed = self._options(f"{API}/emails")
            self._options_usable = allowed is not None and "POST" in allowed
        return self._options_usable

    def _options(self, path: str) -> set[str] | None:
        try:
            response = self._http.request("OPTIONS", path)
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
                self._http.request("GET", f"{API}/brightsync-probe-{self._nonce}/no-such-route")
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
            self._http.request("GET", path)
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

    def learned_unsupported(
        self, name: str, status: int | None, absent: tuple[int, ...] = (405, 501)
    ) -> None:
        """A real write answered "no such operation": remember it (for the next hour too)."""
        if status in absent and name not in self._overrides:
            log.info("CRM %s: %s is not offered (%s)", self._http.base_url, name, status)
            self._caps[name] = False

    def known(self, name: str) -> bool | None:
        """What is known of `name` without asking the connector (None: not yet found out)."""
        if name in self._overrides:
            return self._overrides[name]
        return self._caps.get(name)

    def learned(self, name: str, offered: bool) -> None:
        """A real answer proved `name` offered or not (a list answered a deleted entry, a
        lookup refused a list but took one address): remember it over what an earlier probe,
        or the probes remembered for the org, said."""
        if self.known(name) is not offered:
            log.info("CRM %s: %s=%s (seen in an answer)", self._http.base_url, name, offered)
        self._overrides.pop(name, None)
        self._caps[name] = offered
