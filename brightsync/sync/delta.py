"""One Aurinko delta read for the two-way domains (calendar, contacts, tasks).

A mailbox side's cursor holds two delta tokens, one for updated and one for deleted records.
A read follows every page of both and returns the tokens to start the next read from. Without
tokens (the first sync, or after a restart) the sync is started first; an expired token
(`SyncTokenExpired`) restarts it once with a full listing, a second expiry in a row is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from brightsync.clients.aurinko import AurinkoClient, DeltaPage, SyncTokenExpired, SyncTokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delta:
    """What one delta read returned: the updated and deleted records (as Aurinko gives
    them) and the tokens ``{"updated": ..., "deleted": ...}`` for the next read."""

    updated: list[dict[str, Any]]
    deleted: list[dict[str, Any]]
    tokens: dict[str, str]

    @property
    def deleted_ids(self) -> list[str]:
        return [str(d["id"]) for d in self.deleted if isinstance(d, dict) and d.get("id")]


def read_delta(
    aurinko: AurinkoClient,
    service: str,
    tokens: Mapping[str, str] | None,
    start: Callable[[], SyncTokens],
    **where: str,
) -> Delta:
    """Both halves of one delta read of `service` from `tokens` (None or without an updated
    token: `start()` the sync first). `where` names the container for `delta_pages`
    (`calendar_id`, `task_list_id`)."""
    if tokens and tokens.get("updated"):
        try:
            current = {"updated": tokens["updated"], "deleted": tokens["deleted"]}
            return _read(aurinko, service, current, where)
        except SyncTokenExpired:
            log.info("%s delta token expired: full listing", service)
    started = start()
    fresh = {"updated": started.updated_token, "deleted": started.deleted_token}
    try:
        return _read(aurinko, service, fresh, where)
    except SyncTokenExpired as exc:
        raise SyncTokenExpired(f"{service} delta tokens expired twice in a row") from exc


def _read(
    aurinko: AurinkoClient, service: str, tokens: dict[str, str], where: Mapping[str, str]
) -> Delta:
    updated, tokens["updated"] = _pages(
        aurinko.delta_pages(service, "updated", tokens["updated"], **where), tokens["updated"]
    )
    deleted, tokens["deleted"] = _pages(
        aurinko.delta_pages(service, "deleted", tokens["deleted"], **where), tokens["deleted"]
    )
    return Delta(updated, deleted, tokens)


def _pages(pages: Iterable[DeltaPage], token: str) -> tuple[list[dict[str, Any]], str]:
    """All records of one half of a delta read, and the token to start the next one from."""
    records: list[dict[str, Any]] = []
    next_token = token
    for page in pages:
        records.extend(page.records)
        if page.next_delta_token:
            next_token = page.next_delta_token
    return records, next_token
