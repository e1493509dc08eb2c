"""Aurinko's records: events, contacts and tasks, each created, read, updated (with
If-Match where Aurinko wants it) and deleted. `AurinkoClient` is these plus the account,
delta sync, messages and subscriptions."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from brightsync.clients.http import HttpClient


def segment(value: Any) -> str:
    """One path segment: provider ids may hold characters that must be escaped."""
    return quote(str(value), safe="")


class AurinkoRecords(HttpClient):
    """The record operations; the transport (budget, errors, retries) is the client's."""

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        return response.json()

    # --- records: shared helpers ------------------------------------------------------------

    @staticmethod
    def _record(answer: dict[str, Any] | None) -> dict[str, Any]:
        """The record of an {id, etag, record} answer, with id/etag/iCalUid filled in."""
        answer = answer or {}
        record = dict(answer.get("record") or {})
        for key in ("id", "etag"):
            if answer.get(key) and not record.get(key):
                record[key] = answer[key]
        ical = answer.get("iCalUId") or answer.get("iCalUid")
        if ical and not record.get("iCalUid"):
            record["iCalUid"] = ical
        if record.get("iCalUId") and not record.get("iCalUid"):
            record["iCalUid"] = record["iCalUId"]
        return record

    def _update(
        self, path: str, body: dict[str, Any], etag: str | None, params: dict[str, Any] | None
    ) -> dict[str, Any]:
        if etag is None:
            # Events and contacts require If-Match: without a caller's etag, last writer wins.
            etag = (self._json("GET", path) or {}).get("etag")
        headers = {"If-Match": etag} if etag else None
        return self._record(self._json("PATCH", path, json=body, params=params, headers=headers))

    # --- events -----------------------------------------------------------------------------

    def _event_path(self, calendar_id: str, event_id: str | None = None) -> str:
        path = f"/v1/calendars/{segment(calendar_id)}/events"
        return path if event_id is None else f"{path}/{segment(event_id)}"

    def create_event(
        self, calendar_id: str, body: dict[str, Any], *, notify_attendees: bool = False
    ) -> dict[str, Any]:
        params = {"notifyAttendees": str(notify_attendees).lower(), "returnRecord": "true"}
        answer = self._json("POST", self._event_path(calendar_id), json=body, params=params)
        return self._record(answer)

    def get_event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        return self._json("GET", self._event_path(calendar_id, event_id))

    def series(self, calendar_id: str, master_id: str) -> dict[str, Any]:
        """A series' pattern and exceptions: {recurrence, modifiedOccurrences[],
        deletedOccurrences[]} (OccurrenceInfo: id, type, originalStart, start, masterId)."""
        return self._json("GET", f"{self._event_path(calendar_id, master_id)}/series")

    def update_event(
        self,
        calendar_id: str,
        event_id: str,
        body: dict[str, Any],
        etag: str | None = None,
        *,
        notify_attendees: bool = False,
    ) -> dict[str, Any]:
        """PATCH with If-Match: PreconditionFailed (412) when the event changed since `etag`."""
        params = {"notifyAttendees": str(notify_attendees).lower(), "returnRecord": "true"}
        return self._update(self._event_path(calendar_id, event_id), body, etag, params)

    def delete_event(
        self, calendar_id: str, event_id: str, *, notify_attendees: bool = False
    ) -> None:
        params = {"notifyAttendees": str(notify_attendees).lower()}
        self.request("DELETE", self._event_path(calendar_id, event_id), params=params)

    # --- contacts ---------------------------------------------------------------------------

    def create_contact(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._record(self._json("POST", "/v1/contacts", json=body))

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/contacts/{segment(contact_id)}")

    def update_contact(
        self, contact_id: str, body: dict[str, Any], etag: str | None = None
    ) -> dict[str, Any]:
        return self._update(f"/v1/contacts/{segment(contact_id)}", body, etag, None)

    def delete_contact(self, contact_id: str) -> None:
        self.request("DELETE", f"/v1/contacts/{segment(contact_id)}")

    # --- tasks ------------------------------------------------------------------------------

    def list_task_lists(self) -> list[dict[str, Any]]:
        lists: list[dict[str, Any]] = []
        params: dict[str, Any] | None = None
        while True:
            page = self._json("GET", "/v1/tasklists", params=params) or {}
            lists.extend(page.get("records") or [])
            token = page.get("nextPageToken")
            if not token or (params and params.get("pageToken") == token):
                return lists
            params = {"pageToken": token}

    def _task_path(self, list_id: str, task_id: str | None = None) -> str:
        path = f"/v1/tasklists/{segment(list_id)}/tasks"
        return path if task_id is None else f"{path}/{segment(task_id)}"

    def create_task(self, list_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._record(self._json("POST", self._task_path(list_id), json=body))

    def get_task(self, list_id: str, task_id: str) -> dict[str, Any]:
        return self._json("GET", self._task_path(list_id, task_id))

    def update_task(
        self, list_id: str, task_id: str, body: dict[str, Any], etag: str | None = None
    ) -> dict[str, Any]:
        """If-Match is optional for tasks: without an etag the update is unconditional."""
        headers = {"If-Match": etag} if etag else None
        answer = self._json("PATCH", self._task_path(list_id, task_id), json=body, headers=headers)
        return self._record(answer)

    def delete_task(self, list_id: str, task_id: str) -> None:
        self.request("DELETE", self._task_path(list_id, task_id))
