"""How BrightSync talks to a CRM connector (the contract: docs/connector.md).

`CrmHttp` is the connector's HTTP conventions, below the operations `CrmClient` offers:

* credentials (bearer token or Basic auth) and the organisation's shared per-second budget
  (`crm:{org id}`) before every request; the shared retry policy of `HttpClient`;
* answers read as JSON (`ContractError` when a 2xx answer breaks the contract);
* list endpoints followed to the end whichever paging style the connector uses
  (`pageToken`/`nextPageToken` or `limit`/`offset`), as iterators;
* `?since=` lists and deleted feeds (`changed_since`, `deleted_since`), `showDeleted=true`
  asked where wanted and dropped for a connector that refuses it;
* record writes: a create's id from its body or its `Location`, PATCH with a PUT of the
  merged record for connectors without PATCH, DELETE of a record already gone is no error.
  A write answered "no such operation" is passed to `_write_refused` (the client's
  capability discovery remembers it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import quote

import requests

from brightsync import __version__
from brightsync.clients.http import FinalError, HttpClient, NotFoundError, RetryPolicy
from brightsync.coordination import wait_for_budget

log = logging.getLogger(__name__)

API = "/api/v1"
LIST_KEYS = ("records", "items", "data", "results", "value")
MAX_PAGES = 100_000
# The deleted feed of each two-way collection.
DELETED_FEED = {"contacts": "deletedContacts", "events": "deletedEvents", "tasks": "deletedTasks"}
NOUN = {
    "contacts": "contact",
    "companies": "company",
    "emails": "email",
    "events": "event",
    "tasks": "task",
}


def is_deleted(record: Any) -> bool:
    """A deleted entry where a list or a read may carry one (`showDeleted=true`, or a CRM that
    keeps soft-deleted records visible): `deleted: true`, `isDeleted: true` or a `deletedAt`.
    Never a live record, wherever it turns up."""
    if not isinstance(record, dict):
        return False
    return (
        record.get("deleted") is True
        or record.get("isDeleted") is True
        or record.get("deletedAt") not in (None, "")
    )


class ContractError(FinalError):
    """The connector answered 2xx with something the contract does not allow (e.g. no id)."""


def instant(value: datetime | str) -> str:
    """A `since`/window value: ISO 8601 with an offset (naive datetimes are taken as UTC)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


class CrmHttp(HttpClient):
    """Requests to one connector, read and written the way its contract says."""

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
        self.page_size = page_size
        self._no_patch: set[str] = set()  # collections whose PATCH answered 405/501
        self._list_refused: set[str] = set()  # collections whose list refused showDeleted

    def _wait_for_budget(self) -> None:
        wait_for_budget(self.rate_key, self.rate_limit)

    def _write_refused(
        self, name: str, status: int | None, absent: tuple[int, ...] = (405, 501)
    ) -> None:
        """A write of capability `name` failed with `status`; `absent` are the statuses that
        mean "no such operation". Nothing here: `CrmClient` remembers it as not offered."""

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
        """A lookup's records; deleted entries are left out (they are no match)."""
        body = self._call("GET", path, params=params)
        items, _ = self._page_items(body, path)
        return [i for i in items if not is_deleted(i)]

    @staticmethod
    def _page_items(body: Any, path: str) -> tuple[list[Any], str | None]:
        if isinstance(body, list):
            return body, None
        if isinstance(body, dict):
            token = body.get("nextPageToken") or None
            for key in LIST_KEYS:
                if isinstance(body.get(key), list):
                    return body[key], token
        raise ContractError(
            f"expected a list or a page of records, got {type(body).__name__}",
            method="GET",
            url=path,
        )

    def _pages(
        self, path: str, params: dict[str, Any], *, with_deleted: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every record of a list, following nextPageToken, or limit/offset for plain arrays.
        Deleted entries are left out unless `with_deleted` (deleted feeds, `showDeleted`)."""
        base = {k: v for k, v in params.items() if v is not None}
        limit = self.page_size
        token: str | None = None
        offset = 0
        first_ids: Any = None
        for _ in range(MAX_PAGES):
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
            yield from (i for i in items if with_deleted or not is_deleted(i))
            if next_token:
                if next_token == token:
                    raise ContractError("nextPageToken repeats itself", method="GET", url=path)
                token = next_token
            elif isinstance(body, list) and len(items) == limit:
                offset += len(items)  # offset paging: a full page may have a successor
            else:
                return
        raise ContractError(f"more than {MAX_PAGES} pages", method="GET", url=path)

    def changed_since(
        self, collection: str, since: datetime | str | None, *, show_deleted: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Records of `collection` changed at or after `since` (all without it), every page.
        With `show_deleted` the list is asked with `showDeleted=true` and its deleted entries
        are kept (see `crm_http.is_deleted`); a connector that refuses the parameter (400/422)
        is asked without it, for the rest of the client's life."""
        params: dict[str, Any] = {"since": instant(since) if since else None}
        if show_deleted and collection not in self._list_refused:
            try:
                # Listed in full before anything is handed out: a refusal is the first page's.
                return iter(
                    list(
                        self._pages(
                            f"{API}/{collection}",
                            {**params, "showDeleted": "true"},
                            with_deleted=True,
                        )
                    )
                )
            except FinalError as exc:
                if exc.status not in (400, 422):
                    raise
                log.info("%s: %s refuses showDeleted (%s)", self.base_url, collection, exc.status)
                self._list_refused.add(collection)
        return self._pages(f"{API}/{collection}", params)

    def deleted_since(self, collection: str, since: datetime | str) -> Iterator[dict[str, Any]]:
        """`{id, deletedAt}` of records of `collection` deleted at or after `since`."""
        path = f"{API}/{DELETED_FEED[collection]}"
        return self._deleted(self._pages(path, {"since": instant(since)}, with_deleted=True))

    @staticmethod
    def _deleted(items: Iterator[Any]) -> Iterator[dict[str, Any]]:
        for item in items:
            yield item if isinstance(item, dict) else {"id": item}

    def _created(
        self,
        collection: str,
        payload: dict[str, Any],
        idempotency_key: str | None = None,
        body: IO[bytes] | None = None,
    ) -> dict[str, Any]:
        """POST a new record (`body`: the payload as JSON in a file, sent instead of it). A
        lost answer raises MaybeCreated (see sync/creates.py)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self.request(
                "POST",
                f"{API}/{collection}",
                json=payload if body is None else None,
                data=body,
                headers=headers or None,
            )
        except FinalError as exc:
            # No create here: learned from the write itself, never probed with one (a POST
            # to a collection has no record to be missing, so 404 means no route too).
            self._write_refused(f"{NOUN[collection]}_create", exc.status, (404, 405, 501))
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
            self._write_refused(f"{NOUN[collection]}_update", exc.status)
            raise
        return body if isinstance(body, dict) else {"id": record_id, **full}

    def _delete(self, collection: str, record_id: str) -> bool:
        """True when deleted, False when it was already gone (404)."""
        try:
            self.request("DELETE", f"{API}/{collection}/{quote(str(record_id), safe='')}")
        except NotFoundError:
            return False
        except FinalError as exc:
            self._write_refused(f"{NOUN[collection]}_delete", exc.status)
            raise
        return True

    def _get(self, collection: str, record_id: str) -> dict[str, Any]:
        """One record; a soft-deleted one (see `is_deleted`) is gone, like a 404."""
        path = f"{API}/{collection}/{quote(str(record_id), safe='')}"
        record = self._object("GET", path)
        if is_deleted(record):
            raise NotFoundError(f"{NOUN[collection]} {record_id} is deleted", status=404, url=path)
        return record
