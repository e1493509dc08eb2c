"""The reference CRM connector: the whole connector contract (docs/connector.md) on SQLite.

Run it with `brightsync sandbox crm --port 5002` (or `create_crm_app()` in a test). It is also
the example a platform provider reads before building its own connector, so it stays small:

* every record is a JSON document in one SQLite table (`records`), with the two columns the
  contract needs besides the data: `modified_at` (for `since` queries, kept as fixed-width UTC
  text so it sorts) and `deleted_at` (deletions are tombstones, listed by deleted*);
* request bodies are validated with the contract's marshmallow schemas (400 + field errors);
* lookups return plain arrays; lists page with `limit` + `pageToken` and answer
  `{"records": [...], "nextPageToken": "..." | null}` (pass `paging="offset"` to page with
  `limit` + `offset` and plain arrays instead; BrightSync's client handles both);
* `since` is inclusive; `lastModifiedAt` is set here on every write, strictly increasing.

* a create carrying an `Idempotency-Key` header is remembered for IDEMPOTENCY_WINDOW: the same
  key again (same collection) answers the original record instead of making another one.

Test hooks live under `/_control` (no auth): reset, stats per operation and method, injected
faults (before the request is handled, or after it: a write that stores the record and then
answers 502, or never answers in time), bulk seeding, settings (`latencyMs`: every API answer
held that long, like a real CRM across a network; kept over a reset; `taskStatuses`: a
task-status picklist, see `picklists`; `userCalendars`, `childEvents`: calendar shapes, see
`calendars`). `breakages` switches
on deliberate contract violations, so `brightsync connector check` can be shown to catch each
one (see BREAKAGES).

Modules: `store` (records, lookup index, Idempotency-Keys in SQLite), `state` (one app's
settings, store and controls; `crm()` finds them), `wire` (request bodies and parameters,
answer shapes, pages), `records` (the operations every resource shares, and how a blueprint
registers an operation), `directory` (contacts, companies, opportunities, users) and
`activities` (emails, events, tasks) — one blueprint per collection, `calendars` (the
calendar list, several calendars per user, child events per attendee); `gate` (counting,
latency, faults and credentials around every API request), `faults` (statistics, injected
faults, latency), `control` (the /_control routes), `picklists`, `breakages`, `errors`, `harness`
(CrmSandbox: the app on a thread) and `cli` (`brightsync sandbox crm`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from brightsync.connector.openapi import connector_openapi
from brightsync.sandbox.crm import activities, calendars, directory, picklists
from brightsync.sandbox.crm.breakages import checked_breakages, removed_operations
from brightsync.sandbox.crm.control import control
from brightsync.sandbox.crm.errors import register_error_handlers
from brightsync.sandbox.crm.faults import Control
from brightsync.sandbox.crm.gate import register_gate
from brightsync.sandbox.crm.state import DEFAULT_TOKEN, EXTENSION, Crm, Settings
from brightsync.sandbox.crm.store import Store

__all__ = ["create_crm_app"]


def create_crm_app(
    *,
    db_path: str | None = None,
    token: str | None = DEFAULT_TOKEN,
    basic: tuple[str, str] | None = None,
    breakages: frozenset[str] = frozenset(),
    paging: str = "token",
    omit_nulls: bool = False,
    latency_ms: float = 0.0,
    task_statuses: str | tuple[str, ...] | None = None,
    user_calendars: tuple[str, ...] | list[str] | None = None,
    child_events: bool = False,
) -> Flask:
    """The reference connector as a Flask app.

    Credentials: `Authorization: Bearer <token>`, or HTTP Basic `basic=(user, password)`; with
    both None the API is open. `paging` is "token" (default) or "offset". `omit_nulls`
    leaves empty optional fields out of answers (e.g. a contact without a company carries
    no `companyId`), which the contract allows. `latency_ms` holds every API answer that long
    (also `POST /_control/settings {"latencyMs": 50}`), as a real CRM across a network does.
    `task_statuses` ("salesforce", "hubspot" or the words) makes task `status` a picklist:
    any other value answers 400 (see `picklists`). `user_calendars` (names, the first the
    primary) gives every user several calendars; `child_events` stores one child event per
    attendee (see `calendars`).
    """
    broken = checked_breakages(breakages)
    if paging not in ("token", "offset"):
        raise ValueError("paging is 'token' or 'offset'")
    picklist = picklists.task_statuses(task_statuses)
    names = calendars.checked_names(list(user_calendars) if user_calendars else None)
    settings = Settings(
        token=token,
        basic=basic,
        breakages=broken,
        paging=paging,
        omit_nulls=omit_nulls,
        task_statuses=picklist,
        user_calendars=names,
        child_events=child_events,
    )
    control_state = Control(latency_ms, picklist, user_calendars=names, child_events=child_events)
    connector = Crm(settings=settings, store=Store(db_path), control=control_state)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = connector
    if not connector.store.live("users"):
        connector.reset()

    removed = removed_operations(broken)
    for blueprint in (*activities.BLUEPRINTS, calendars.calendars, *directory.BLUEPRINTS):
        app.register_blueprint(blueprint, removed=removed)
    app.add_url_rule("/openapi.json", "openapi", openapi)
    register_gate(app)
    register_error_handlers(app)
    app.register_blueprint(control)
    return app


def openapi() -> Any:
    """The contract this connector implements, as OpenAPI (what a client discovers first)."""
    return connector_openapi()
