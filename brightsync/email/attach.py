"""A logged email's attachment files: fetched once from the owner's copy and delivered to the
CRM, one file at a time; what could not be fetched is logged as missing and completed later.

The way depends on the connector:

* it offers `POST /emails/{id}/attachments` (capability `email_attachments`): the email is
  created with every file's metadata (the files to come marked `missing`, "sent
  separately"), then each file is fetched and uploaded in turn, with an Idempotency-Key per
  file. One file is on hand at a time.
* otherwise the files travel inside the create, `attachments[].content` in base64: each
  file is fetched in turn into a temporary file and encoded into the JSON body, itself a
  temporary file (memory up to 512 KiB, then disk), so every file of the email is on disk
  at once, never in memory; a connector that echoes the content back makes the answer as
  big as the body.

A file that fails to arrive (Aurinko down, a dropped download, a refused upload) never
holds the email back: it is logged with that file `missing: true` and a reason, the claim
keeps the file's key (`files_missing`) and is retried with the claim's backoff
(`complete`): an upload after looking at the email's attachments first, or a PATCH of the
email's whole attachment list (absolute values, so repeating it changes nothing more).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from brightsync.clients.aurinko import TokenDeadError
from brightsync.clients.aurinko_files import TooLarge, fetch_attachment
from brightsync.clients.crm_files import json_body, patch_email, spooled, upload_attachment
from brightsync.clients.http import ApiError, AuthError, FinalError, NotFoundError, TransientError
from brightsync.db import session_scope
from brightsync.email import files as F
from brightsync.email.claim_leases import held
from brightsync.email.context import EmailContext
from brightsync.email.outcomes import retry_delay
from brightsync.email.queue import publish_after_commit
from brightsync.models import EmailClaim, utcnow
from brightsync.sync import creates, leases

log = logging.getLogger(__name__)


class Delivery:
    """The files of one email on their way to the CRM (see the module doc)."""

    def __init__(
        self, ctx: EmailContext, provider_id: str, files: list[F.File], message_key: str
    ) -> None:
        self.ctx = ctx
        self.provider_id = provider_id
        self.files = files
        self.message_key = message_key
        self.max_bytes = F.file_settings(ctx.settings)[1]
        self.upload = any(f.send for f in files) and ctx.crm.supports("email_attachments")
        self.missing: dict[str, str] = {}  # key -> reason: to be retried
        self.error: ApiError | None = None
        self._stack = ExitStack()
        self._body: IO[bytes] | None = None

    def __enter__(self) -> Delivery:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # --- the create --------------------------------------------------------------------

    def create(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        """POST /emails for `payload`: the create callable of `creates.attempt_create`. The
        JSON way fetches the files on the first call only (a repeat sends the same body)."""
        if self.upload or not any(f.send for f in self.files):
            payload = {**payload, "attachments": self.metadata()}
            return self.ctx.crm.create_email(payload, idempotency_key=key)
        if self._body is None:
            self._body = self._stack.enter_context(json_body(payload, self._with_content()))
        return self.ctx.crm.create_email(payload, idempotency_key=key, body=self._body)

    def metadata(self) -> list[dict[str, Any]]:
        """Every file's Attachment entry without content (the upload way's create)."""
        return [
            F.entry(f, missing=True, reason=F.PENDING_UPLOAD) if f.send else F.entry(f)
            for f in self.files
        ]

    def _with_content(self, only: set[str] | None = None) -> Iterator[tuple[dict, IO | None]]:
        """(entry, file with its content or None) per file, fetched one after the other;
        each temporary file is closed when the next one is asked for."""
        for f in self.files:
            if not f.send or (only is not None and f.key not in only):
                yield F.entry(f), None
                continue
            with spooled() as tmp:
                entry = self._fetch(f, tmp)
                yield entry, (tmp if _arrived(entry) else None)

    # --- fetching ----------------------------------------------------------------------

    def _fetch(self, f: F.File, sink: IO[bytes]) -> dict[str, Any]:
        """Fetch one file into `sink`; its entry (missing, with the reason, when it failed)."""
        assert f.attachment_id is not None
        try:
            got = fetch_attachment(
                self.ctx.aurinko, self.provider_id, f.attachment_id, sink, max_bytes=self.max_bytes
            )
        except TooLarge:
            reason = f"larger than {F.human_size(self.max_bytes)} (email.attachmentMaxBytes)"
            return F.entry(f, reason=reason)
        except (TransientError, TokenDeadError) as exc:
            return self._missing(f, exc, retry=True)
        except FinalError as exc:
            return self._missing(f, exc, retry=False)
        self.ctx.count("attachment_fetches")
        self.ctx.count("attachment_bytes", got.size)
        return F.entry(f, size=got.size)

    def _missing(self, f: F.File, exc: ApiError, *, retry: bool) -> dict[str, Any]:
        log.warning("attachment %r of message %s: %s", f.name, self.provider_id, exc)
        self.ctx.count("attachment_missing")
        if retry:
            self.missing[f.key] = str(exc)
            self.error = exc
            reason = f"not fetched yet ({exc.message[:200]}); BrightSync retries"
        else:
            reason = f"could not be fetched: {exc.message[:200]}"
        return F.entry(f, missing=True, reason=reason)

    # --- after the create, and later -------------------------------------------------

    def upload_files(self, email_id: str, *, look: bool, only: set[str] | None = None) -> None:
        """Fetch and upload each file in turn (the upload way); with `look`, files the email
        holds already (an earlier attempt's) are not sent again."""
        stored: list[Any] = []
        if look and self.ctx.crm.supports("email_get"):
            try:
                stored = self.ctx.crm.get_email(email_id).get("attachments") or []
            except (TransientError, AuthError) as exc:
                for f in self.files:
                    if f.send and (only is None or f.key in only):
                        self.missing[f.key], self.error = str(exc), exc
                return
            except FinalError as exc:  # the Idempotency-Keys still keep a file single
                log.warning("could not look at email %s's attachments: %s", email_id, exc)
        for f in self.files:
            if not f.send or (only is not None and f.key not in only) or F.delivered(stored, f):
                continue
            with spooled() as tmp:
                if not _arrived(self._fetch(f, tmp)):
                    continue
                key = creates.idempotency_key(
                    "attachment", self.ctx.org_id, self.message_key, f.key
                )
                try:
                    upload_attachment(
                        self.ctx.crm,
                        email_id,
                        name=f.name,
                        content_type=f.content_type,
                        source=tmp,
                        idempotency_key=key,
                    )
                except (TransientError, AuthError) as exc:
                    self.missing[f.key], self.error = str(exc), exc
                    continue
                except FinalError as exc:
                    if exc.status in (405, 501):  # not offered after all: PATCH next time
                        self.missing[f.key], self.error = str(exc), exc
                    else:
                        log.warning("the CRM refused file %r for good: %s", f.name, exc)
                    continue
                self.ctx.count("attachment_uploads")

    def patch_files(self, email_id: str, only: set[str]) -> None:
        """The JSON way's completion: PATCH the email's whole attachment list with content
        (each file fetched again in turn: the list is replaced as a whole)."""
        with json_body({}, self._with_content()) as body:
            try:
                patch_email(self.ctx.crm, email_id, body)
            except (TransientError, AuthError) as exc:
                self.missing.update(dict.fromkeys(only, str(exc)))
                self.error = exc


def _arrived(entry: dict[str, Any]) -> bool:
    """The file's content is on hand (not missing, not left out for a reason)."""
    return entry["missing"] is False and entry["reason"] is None


def settle(s: Session, c: EmailClaim, delivery: Delivery | None, *, gave_up: str = "") -> None:
    """Record on a logged claim what is still missing: retried with the claim's backoff
    (leased to the retry task until then), or given up after MAX_FILE_RETRIES."""
    missing = delivery.missing if delivery is not None else {}
    c.lease_until = c.lease_owner = None
    c.files_missing = None
    if missing and (c.failures or 0) < F.MAX_FILE_RETRIES:
        c.failures = (c.failures or 0) + 1
        delay = retry_delay(c.failures)
        c.files_missing = F.dump_keys(missing)
        c.reason = f"{len(missing)} file(s) missing, will retry: {delivery.error}"[:500]
        c.lease_owner, c.lease_until = leases.new_owner(), utcnow() + delay
        publish_after_commit(s, [c.id], owner=c.lease_owner, countdown=delay.total_seconds())
    elif missing or gave_up:
        c.reason = (gave_up or f"{len(missing)} file(s) could not be delivered")[:500]
    else:
        c.reason = None


def follow_ups(claim_ids: list[int]) -> set[int]:
    """Which of these claims are logged emails with files still to deliver."""
    with session_scope() as s:
        return set(
            s.scalars(
                select(EmailClaim.id).where(
                    EmailClaim.id.in_(claim_ids),
                    EmailClaim.state == "logged",
                    EmailClaim.files_missing.is_not(None),
                )
            )
        )


def complete(ctx: EmailContext, claim_id: int, lease: str) -> None:
    """Deliver a logged email's missing files (the retry): the owner's copy is read again
    for its attachment ids; each file is looked for in the CRM before it is sent again."""
    with session_scope() as s:
        c = held(s, claim_id, lease)
        email_id, provider_id = c.crm_email_id, c.provider_message_id
        keys, message_key = F.load_keys(c.files_missing), c.message_key
    assert email_id is not None
    gave_up = ""
    delivery: Delivery | None = None
    try:
        msg = ctx.aurinko.get_message(provider_id)
        ctx.count("body_loads")
        files = F.plan_files(msg.get("attachments"), *F.file_settings(ctx.settings))
        delivery = Delivery(ctx, provider_id, files, message_key)
        if delivery.upload:
            delivery.upload_files(email_id, look=True, only=keys)
        elif ctx.crm.supports("email_update"):
            delivery.patch_files(email_id, keys)
        else:
            gave_up = "files missing: the connector can neither take files nor change an email"
    except NotFoundError:
        gave_up = "files missing: the message is gone from the owner's mailbox"
    except (TransientError, AuthError) as exc:
        delivery = Delivery(ctx, provider_id, [], message_key)
        delivery.missing, delivery.error = dict.fromkeys(keys, str(exc)), exc
    except FinalError as exc:
        gave_up = f"files missing: {exc.message}"
    with session_scope() as s:
        c = held(s, claim_id, lease)
        settle(s, c, delivery, gave_up=gave_up)
    ctx.count("attachment_follow_ups")
