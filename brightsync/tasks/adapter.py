"""The tasks adapter of the two-way core: one user's task list <-> the CRM tasks that user owns.

Mailbox side: the user's default task list (or the one named by `tasks.list`, by id or
title), read with Aurinko's tasks delta sync; the first sync passes `skipCompletedBeforeDate`
(when `skipCompleted`), so tasks completed before activation never sync. Its cursor is JSON:
the list id, both delta tokens and the activation time.

Statuses: read through `rules.StatusMap`; each CRM status word read is learned, and a new one
is handed to `on_learned` (the handler keeps it for the org), so writes use the CRM's word.

CRM side: `GET /tasks?since=`, deletions by what the connector offers (the deleted feed, else
`showDeleted=true`, else a periodic comparison: sync/crm_deletions.py), only tasks whose
`ownerId` is the user's CRM id (a task given to someone else reads as deleted here). Its
cursor is ``<since>|<activated>`` (and ``;checked=<epoch seconds>``); `since`
trails the read by a few minutes (the connector's `since` is inclusive and re-reads are
echo-free, while a change landing during the read must not be missed). On the first sync
completed tasks are left out, and later only tasks completed before activation stay out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from brightsync.clients.aurinko import AurinkoClient
from brightsync.clients.crm import CrmClient
from brightsync.clients.http import FinalError, NotFoundError
from brightsync.sync import crm_deletions
from brightsync.sync.adapter import MAILBOX, ChangeSet, Record, Side, find_in_crm
from brightsync.sync.creates import attempt_create
from brightsync.sync.cursors import next_since, now
from brightsync.sync.delta import read_delta
from brightsync.tasks import rules
from brightsync.times import parse_instant, utc_stamp

FIND_WINDOW = timedelta(days=2)  # how far back a maybe-created CRM task is looked for


class TasksAdapter:
    domain = "tasks"

    def __init__(
        self,
        aurinko: AurinkoClient,
        crm: CrmClient,
        *,
        owner_id: str,
        task_list: str | None = None,
        statuses: rules.StatusMap | None = None,
        tz: ZoneInfo | None = None,
        skip_completed: bool = True,
        on_learned: Callable[[dict[str, str]], None] | None = None,
        deletion_period: timedelta = timedelta(minutes=30),
    ) -> None:
        self.aurinko = aurinko
        self.crm = crm
        self.owner_id = str(owner_id)
        self.task_list = task_list
        self.statuses = statuses or rules.StatusMap()
        self.tz = tz or ZoneInfo("UTC")
        self.skip_completed = skip_completed
        # Told the CRM's words for statuses whenever a read teaches a new one (to keep them).
        self.on_learned = on_learned
        self.deletion_period = deletion_period  # how often deletions may be found by comparison
        self._list_id: str | None = None

    # -- the mailbox list --

    @property
    def list_id(self) -> str:
        if self._list_id is None:
            self._list_id = self._resolve_list()
        return self._list_id

    def _resolve_list(self) -> str:
        if not self.task_list:
            return "default"
        for task_list in self.aurinko.list_task_lists():
            if self.task_list in (str(task_list.get("id")), task_list.get("title")):
                return str(task_list["id"])
        raise FinalError(f"no task list named {self.task_list!r} in this mailbox", status=404)

    # -- mapping --

    def _mailbox_record(self, task: Mapping[str, Any]) -> Record:
        return Record(
            str(task["id"]),
            rules.from_mailbox(task),
            task.get("etag"),
            parse_instant(task.get("lastModifiedTime")),
            task,
        )

    def _crm_record(self, task: Mapping[str, Any]) -> Record:
        self._learn(task)
        return Record(
            str(task["id"]),
            rules.from_crm(task, self.statuses, self.tz),
            task.get("lastModifiedAt"),
            parse_instant(task.get("lastModifiedAt")),
            task,
        )

    def _learn(self, task: Mapping[str, Any]) -> None:
        """Note the CRM's word for a status: later writes of that status send it."""
        word = task.get("status")
        if self.statuses.learn(word) and self.on_learned is not None:
            # Only the news: another run may have learned a newer word for another status.
            self.on_learned({str(self.statuses.recognised(word)): str(word)})

    def _mine(self, task: Mapping[str, Any]) -> bool:
        return str(task.get("ownerId") or "") == self.owner_id

    # -- reading --

    def changes(self, side: Side, cursor: str | None) -> ChangeSet:
        return self._mailbox_changes(cursor) if side == MAILBOX else self._crm_changes(cursor)

    def _mailbox_changes(self, cursor: str | None) -> ChangeSet:
        state: dict[str, Any] = json.loads(cursor) if cursor else {}
        if state.get("list") != self.list_id:
            state = {"list": self.list_id}  # first sync, or the setting names another list
        state.setdefault("activated", utc_stamp(now()))
        skip = state["activated"] if self.skip_completed else None
        delta = read_delta(
            self.aurinko,
            "tasks",
            state,
            lambda: self.aurinko.start_sync(
                "tasks", task_list_id=self.list_id, skip_completed_before=skip
            ),
            task_list_id=self.list_id,
        )
        state.update(delta.tokens)
        gone = tuple(delta.deleted_ids)
        records = tuple(self._mailbox_record(t) for t in delta.updated if str(t["id"]) not in gone)
        return ChangeSet(records, gone, json.dumps(state, sort_keys=True))

    def _crm_changes(self, cursor: str | None) -> ChangeSet:
        base, checked = crm_deletions.split_cursor(cursor)
        since, _, activated = (base or "").partition("|")
        started = now()
        activated_at = parse_instant(activated) or started
        read = crm_deletions.read(
            self.crm,
            "tasks",
            since or None,
            checked,
            listing=lambda: self.crm.tasks_since(None),
            now=started,
            period=self.deletion_period,
        )
        records: list[Record] = []
        gone = list(read.deleted)
        for task in read.records:
            if not self._mine(task):
                self._learn(task)  # a colleague's task speaks the same vocabulary
                if since and not read.listed:
                    gone.append(str(task["id"]))  # no longer this user's
                continue
            record = self._crm_record(task)
            if self.skip_completed and not rules.active(record.fields):
                done = parse_instant(record.fields.get("completed")) or record.modified
                if not since or done is None or done < activated_at:
                    continue  # completed before activation: never synced
            records.append(record)
        cursor = f"{next_since(since or None, started)}|{utc_stamp(activated_at)}"
        cursor = crm_deletions.join_cursor(cursor, read.checked)
        return ChangeSet(tuple(records), tuple(dict.fromkeys(gone)), cursor, listed=read.listed)

    def get(self, side: Side, record_id: str) -> Record | None:
        try:
            if side == MAILBOX:
                return self._mailbox_record(self.aurinko.get_task(self.list_id, record_id))
            task = self.crm.get_task(record_id)
        except NotFoundError:
            return None
        return self._crm_record(task) if self._mine(task) else None

    def find(self, side: Side, fields: Mapping[str, Any], key: str) -> Record | None:
        return find_in_crm(side, lambda: self._found_native(fields), self._crm_record)

    def _found_native(self, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """A recent CRM task of this user with the same identity (tasks have no lookup key)."""
        want = {k: fields.get(k) for k in rules.IDENTITY}
        for task in self.crm.tasks_since(now() - FIND_WINDOW):
            if not self._mine(task):
                continue
            mapped = rules.from_crm(task, self.statuses, self.tz)
            if {k: mapped.get(k) for k in rules.IDENTITY} == want:
                return task
        return None

    # -- writing --

    def create(self, side: Side, fields: Mapping[str, Any], key: str) -> Record:
        if side == MAILBOX:
            created = self.aurinko.create_task(self.list_id, rules.to_mailbox(fields))
            return self._mailbox_record(self._full_mailbox(created))
        payload = {**rules.to_crm(fields, self.statuses, self.tz), "ownerId": self.owner_id}
        # The shared safe create: the engine's intent key goes out as Idempotency-Key, and a
        # lost answer is looked for before the create is sent again.
        created = attempt_create(
            lambda idempotency_key: self.crm.create_task(payload, idempotency_key=idempotency_key),
            lambda: self._found_native(fields),
            key=key,
            look_first=False,
        )
        return self._crm_record(self._full_crm(created.record))

    def update(
        self, side: Side, record_id: str, patch: Mapping[str, Any], version: str | None
    ) -> Record:
        if side == MAILBOX:
            body = rules.mailbox_patch(patch)
            answer = self.aurinko.update_task(self.list_id, record_id, body, etag=version)
            return self._mailbox_record(self._full_mailbox(answer))
        due_time = None
        if "due" in patch and "dueTime" not in patch:
            # The mailbox knows the date only: keep the time of day the CRM holds.
            due_time = self._crm_record(self.crm.get_task(record_id)).fields.get("dueTime")
        body = rules.to_crm(patch, self.statuses, self.tz, due_time)
        return self._crm_record(self._full_crm(self.crm.update_task(record_id, body)))

    def delete(self, side: Side, record_id: str, version: str | None) -> None:
        if side == MAILBOX:
            self.aurinko.delete_task(self.list_id, record_id)
        else:
            self.crm.delete_task(record_id)

    def _full_mailbox(self, answer: dict[str, Any]) -> dict[str, Any]:
        if "title" in answer and "status" in answer:
            return answer
        return self.aurinko.get_task(self.list_id, str(answer["id"]))

    def _full_crm(self, answer: dict[str, Any]) -> dict[str, Any]:
        if "subject" in answer and "lastModifiedAt" in answer:
            return answer
        return self.crm.get_task(str(answer["id"]))
