"""The operations every resource of the reference CRM shares (get, create, update, replace,
delete, changed since, deleted since), and how a resource blueprint registers an operation of
the contract.

A resource's blueprint is named after its collection and each view after its action, so the
Flask endpoint is the contract's operation id ("contacts.lookup"): the statistics count by it.
An operation a breakage removes gets no route at all (404 or 405, as on a CRM without it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Blueprint, jsonify, request
from flask.blueprints import BlueprintSetupState

from brightsync.connector.contract import OPERATIONS
from brightsync.sandbox.crm.errors import NotFound
from brightsync.sandbox.crm.files import stash
from brightsync.sandbox.crm.state import broken, crm
from brightsync.sandbox.crm.wire import (
    NOUN,
    blank,
    body,
    found,
    inclusive,
    out,
    page,
    since_param,
    validate,
    with_deleted,
)

View = Callable[..., Any]

#: How long a create's Idempotency-Key is remembered.
IDEMPOTENCY_WINDOW = timedelta(hours=24)


def operation(blueprint: Blueprint, action: str) -> Callable[[View], View]:
    """Register `view` for the contract operation "<blueprint>.<action>" on every app that
    takes the blueprint, unless the app's breakages remove it (`register_blueprint(bp,
    removed={...})`)."""
    op = OPERATIONS[f"{blueprint.name}.{action}"]

    def register(view: View) -> View:
        def setup(state: BlueprintSetupState) -> None:
            if op.id not in state.options.get("removed", ()):
                path = op.path.replace("{id}", "<record_id>")
                path = path.replace("{attachmentId}", "<attachment_id>")
                state.add_url_rule(path, action, view, methods=[op.method.upper()])

        blueprint.record(setup)
        return view

    return register


def shared_operations(blueprint: Blueprint, *actions: str) -> None:
    """Register the shared views for these actions of the blueprint's collection."""
    kind = blueprint.name
    for action in actions:
        operation(blueprint, action)(SHARED[action](kind))


def get_one(kind: str) -> View:
    def view(record_id: str) -> Any:
        return out(kind, found(kind, record_id))

    return view


def create(kind: str) -> View:
    def view() -> Any:
        store = crm().store
        record = stash(kind, {**blank(kind), **validate(kind, body())}, None)
        if kind == "emails" and broken("create_not_idempotent_lookup"):
            record["rfc822MsgId"] = None
        key = (request.headers.get("Idempotency-Key") or "").strip()[:255]
        honour = bool(key) and not broken("ignores_idempotency_key")
        replayed = False
        with store.lock:  # the same key twice at once still makes one record
            known = store.remembered(kind, key, IDEMPOTENCY_WINDOW) if honour else None
            existing = store.get(kind, known) if known is not None else None
            if existing is not None:
                stored, replayed = existing, True
            else:
                stored = store.insert(kind, record)
                if honour:
                    store.remember(kind, key, stored["id"])
        saved = dict(out(kind, stored))
        if broken("missing_id_on_create"):
            saved.pop("id")
        response = jsonify(saved)
        response.status_code = 201
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    return view


def update(kind: str, *, replace: bool = False) -> View:
    def view(record_id: str) -> Any:
        store = crm().store
        changes = validate(kind, body(), partial=not replace)
        with store.lock:  # read-modify-write: no concurrent change gets lost
            existing = found(kind, record_id)
            base = blank(kind) if replace else existing
            record = stash(kind, {**base, **changes, "id": existing["id"]}, existing)
            return out(kind, store.save(kind, record))

    return view


def replace(kind: str) -> View:
    return update(kind, replace=True)


def delete(kind: str) -> View:
    def view(record_id: str) -> Any:
        if not crm().store.delete(kind, record_id):
            raise NotFound(f"no {NOUN[kind]} {record_id}")
        return "", 204

    return view


def changed(kind: str) -> View:
    def view() -> Any:
        since = since_param()
        found = crm().store.changed(kind, since, inclusive=inclusive())
        return page(kind, with_deleted(kind, found, since))

    return view


def deleted(kind: str) -> View:
    def view() -> Any:
        since = since_param(required=True)
        assert since is not None
        if kind == "contacts" and broken("deleted_contacts_empty"):
            return page("deleted", [])
        return page("deleted", crm().store.deleted(kind, since, inclusive=inclusive()))

    return view


# The shared view of each action, made for one collection.
SHARED: dict[str, Callable[[str], View]] = {
    "get": get_one,
    "create": create,
    "update": update,
    "replace": replace,
    "delete": delete,
    "list": changed,
    "deleted": deleted,
}
