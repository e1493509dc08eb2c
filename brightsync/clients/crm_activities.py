"""The activities of the CRM connector contract: emails (logged, found by Message-ID,
re-linked), events (and the user's calendars) and tasks. `CrmClient` is these plus users,
contacts, leads, companies and opportunities, and what the connector offers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from brightsync.clients.crm_http import API, CrmHttp, instant

log = logging.getLogger(__name__)


def message_id_key(value: Any) -> str:
    """A Message-ID compared without its angle brackets and spaces."""
    return str(value or "").strip().strip("<>").strip()


class CrmActivities(CrmHttp):
    """Emails, events and tasks; requests, paging and writes are `CrmHttp`'s."""

    # ------------------------------------------------------------------ emails

    def find_emails(self, rfc822_msg_id: str) -> list[dict[str, Any]]:
        """Logged emails with this Message-ID (look before creating).

        Records carrying a different rfc822MsgId are dropped: a connector that ignores the
        filter must not make BrightSync believe an email was logged when it was not.
        """
        wanted = message_id_key(rfc822_msg_id)
        found = self._list(f"{API}/emails", {"rfc822MsgId": rfc822_msg_id})
        kept = [
            e
            for e in found
            if isinstance(e, dict)
            and (
                "rfc822MsgId" not in e
                or e["rfc822MsgId"] is None
                or message_id_key(e["rfc822MsgId"]) == wanted
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
        self,
        payload: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        body: IO[bytes] | None = None,
    ) -> dict[str, Any]:
        """`body`: the payload as a JSON file (attachment content streamed from disk)."""
        return self._created("emails", payload, idempotency_key, body)

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
        return self.changed_since("events", since)

    def deleted_events_since(self, since: datetime | str) -> Iterator[dict[str, Any]]:
        return self.deleted_since("events", since)

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

    def calendars(self, owner_id: str | None = None) -> list[dict[str, Any]]:
        """The calendars of a CRM user (every calendar without `owner_id`); optional."""
        found = self._list(f"{API}/calendars", {"ownerId": owner_id} if owner_id else {})
        return [c for c in found if isinstance(c, dict) and c.get("id") not in (None, "")]

    # ------------------------------------------------------------------ tasks

    def tasks_since(self, since: datetime | str | None = None) -> Iterator[dict[str, Any]]:
        return self.changed_since("tasks", since)

    def deleted_tasks_since(self, since: datetime | str) -> Iterator[dict[str, Any]]:
        return self.deleted_since("tasks", since)

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
