"""The adapter protocol of the two-way core, and the small record types the core works on.

The two-way core (`sync/twoway.py` decides, `sync/engine.py` executes) knows no HTTP and no
domain. Each domain (calendar, contacts, tasks) supplies one adapter per run that:

- reads each side's changes since a cursor (`changes`),
- maps records both ways between the side's native shape and a **common field vocabulary**
  (the adapter's own choice of field names, e.g. ``title``, ``due``, ``status``),
- writes on each side (`create`, `update`, `delete`) and reads one record back (`get`),
- looks for what a create whose answer was lost may have made (`find`).

Records cross the protocol as `Record`s whose `fields` hold common-vocabulary values that are
already normalised (so plain ``==`` means "the same"). A field a side cannot hold is simply
absent from that side's `fields`: the core neither compares it there nor writes it there
(a CRM due *time* on a date-only mailbox, the CRM's ``relatedTo``). A lossy mapping (two CRM
statuses onto one mailbox status) is expressed by mapping the finer side onto the coarser
common value: the core writes only fields whose common value changed, so the CRM's finer
value is never overwritten by the coarse value it came from.

Errors: adapters raise the clients' errors unchanged (`brightsync.clients.http`):
`TransientError` (the engine defers the action and the run is retried), `PreconditionFailed`
(412: the engine re-reads with `get` and decides again), `NotFoundError` (the record is gone:
an update becomes "deleted on that side"; a delete is already done), any other
`FinalError` (recorded on the link with its reason; the rest of the run goes on), `Held`
(the side keeps this write back for a person to review: the link is held, like a deletion the
mass-deletion guard holds, with the reason on it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Side = Literal["mailbox", "crm"]
MAILBOX: Side = "mailbox"
CRM: Side = "crm"
SIDES: tuple[Side, Side] = (MAILBOX, CRM)


class Held(Exception):
    """Raised by an adapter's write that must wait for review (e.g. deleting a CRM contact
    that has logged activity): the engine holds the link with this reason, not retried."""


def other(side: Side) -> Side:
    return CRM if side == MAILBOX else MAILBOX


def content_hash(fields: Mapping[str, Any]) -> str:
    """Stable hash of mapped content: what "changed" means to the core (never the raw record,
    so our own writes, re-read with new versions and timestamps, never echo as changes)."""
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Record:
    """One side's current state of one item, mapped to the common vocabulary.

    `id`: the side's record id. `fields`: common-vocabulary values this side holds (absent key =
    the side cannot hold that field). `version`: etag / updatedAt, opaque, used for If-Match and
    as a cheap "unchanged" hint. `modified`: when the side last changed it (the `newest`
    conflict policy). `native`: the side's raw record, for adapters that need it on write.
    """

    id: str
    fields: Mapping[str, Any]
    version: str | None = None
    modified: datetime | None = None
    native: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def hash(self) -> str:
        return content_hash(self.fields)


@dataclass(frozen=True)
class ChangeSet:
    """What one side reports since a cursor: changed or new records, deleted ids, the cursor to
    store once the run has handled them (None on a side that has no cursor yet).

    `listed`: the records are a full listing, not a delta (a side without a deleted feed lists
    in full now and then, `sync/crm_deletions.py`): the linked records it leaves out are read
    once and the missing ones taken as deleted (`sync/listing.py`). `covers(fields)` says which
    linked records (by their fields as last seen) such a listing would hold (None: all)."""

    records: tuple[Record, ...] = ()
    deleted: tuple[str, ...] = ()
    cursor: str | None = None
    listed: bool = False
    covers: Callable[[Mapping[str, Any]], bool] | None = field(
        default=None, compare=False, repr=False
    )


def find_in_crm(
    side: Side,
    lookup: Callable[[], Mapping[str, Any] | None],
    to_record: Callable[[Mapping[str, Any]], Record],
) -> Record | None:
    """`Adapter.find` of a domain that looks only in the CRM: `lookup()` returns the CRM's
    native record a lost create made (or None), `to_record` maps it. The mailbox side offers
    no lookup: the next delta is matched by content instead."""
    if side == MAILBOX:
        return None
    found = lookup()
    return None if found is None else to_record(found)


class Adapter(Protocol):
    """One domain's two sides, for one user. Implementations: `brightsync/<domain>/adapter.py`.

    All methods may do I/O; none may touch the status table (the engine owns it).
    """

    domain: str  # "calendar" | "contacts" | "tasks": the status table's domain column

    def changes(self, side: Side, cursor: str | None) -> ChangeSet:
        """Everything changed on `side` since `cursor` (None: the first sync, a full listing of
        what should sync). Must return every page before answering: the engine stores the
        returned cursor only after the run has handled the changes."""
        ...

    def get(self, side: Side, record_id: str) -> Record | None:
        """Read one record now; None when it no longer exists."""
        ...

    def find(self, side: Side, fields: Mapping[str, Any], key: str) -> Record | None:
        """Look for a record a previous `create(side, fields, key)` may have made although its
        answer was lost (by idempotency key, external id or content). None: nothing found, or
        the side offers no lookup (the engine then reconciles by content fingerprint on the
        next delta)."""
        ...

    def create(self, side: Side, fields: Mapping[str, Any], key: str) -> Record:
        """Create a record from common fields on `side`; `key` is stable across retries of the
        same intent (send it as Idempotency-Key where the side supports one). Returns the
        created record as the side stored it."""
        ...

    def update(
        self, side: Side, record_id: str, patch: Mapping[str, Any], version: str | None
    ) -> Record:
        """Change only the fields in `patch` (common vocabulary) and keep everything else the
        side holds (e.g. the CRM's ``relatedTo``). `version` is the last version seen, for
        If-Match. Returns the record as the side stored it."""
        ...

    def delete(self, side: Side, record_id: str, version: str | None) -> None:
        """Delete the record; an already missing record is success."""
        ...
