"""Which attachment files a logged email carries, and how each is described to the CRM (pure).

A message's `attachments[]` (Aurinko: id, name, mimeType, size, inline, contentId) are its
files, except inline images of the HTML body (`inline` with a `contentId`: signature logos,
pasted pictures), which are never sent as files. The organisation's `email.attachments`
says what is sent of each file: nothing (`none`), its metadata (`metadata`: name, type,
size) or the file itself (`files`, the default), unless it is larger than
`email.attachmentMaxBytes` (then metadata, with the reason).

A file is known across copies and attempts by its `key` (position among the files, name,
size): the attachment ids are the owner's copy's own and change with a hand-over.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from brightsync.people.names import decode_encoded_words

MODES = ("none", "metadata", "files")
DEFAULT_MODE = "files"
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_FILES = 100
# A file whose content is still missing is retried with the claim's backoff this many times.
MAX_FILE_RETRIES = 8
PENDING_UPLOAD = "sent separately after the email (POST /emails/{id}/attachments)"


@dataclass(frozen=True)
class File:
    """One attachment file of a message, and what is sent of it."""

    ordinal: int  # position among the message's files (inline images not counted)
    attachment_id: str | None  # the owner's copy's attachment id at Aurinko
    name: str
    content_type: str
    size: int | None
    send: bool  # the content is to be sent
    reason: str | None = None  # why the content is not sent (when `send` is False)

    @property
    def key(self) -> str:
        return f"{self.ordinal}:{self.name}:{self.size if self.size is not None else ''}"


def file_settings(settings: Mapping[str, Any]) -> tuple[str, int]:
    """(mode, max bytes) from the organisation's effective settings."""
    email = settings.get("email") or {}
    mode = email.get("attachments", DEFAULT_MODE)
    return (mode if mode in MODES else DEFAULT_MODE), int(
        email.get("attachmentMaxBytes", DEFAULT_MAX_BYTES)
    )


def is_inline_image(attachment: Mapping[str, Any]) -> bool:
    """An image of the HTML body (a logo, a pasted picture): part of the body, not a file."""
    cid = attachment.get("contentId")
    return attachment.get("inline") is True and isinstance(cid, str) and bool(cid.strip())


def human_size(size: int) -> str:
    for unit, step in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= step:
            return f"{size / step:.1f} {unit}".replace(".0 ", " ")
    return f"{size} bytes"


def plan_files(attachments: object, mode: str, max_bytes: int) -> list[File]:
    """The message's files and what is sent of each; [] when `mode` is none."""
    if mode == "none" or not isinstance(attachments, Sequence) or isinstance(attachments, str):
        return []
    out: list[File] = []
    for item in list(attachments[: MAX_FILES * 2]):
        if not isinstance(item, Mapping) or is_inline_image(item):
            continue
        if len(out) >= MAX_FILES:
            break
        name = item.get("name")
        name = decode_encoded_words(name)[:255] if isinstance(name, str) and name else "attachment"
        mime = item.get("mimeType")
        mime = mime[:255] if isinstance(mime, str) and mime else "application/octet-stream"
        size = item.get("size")
        size = int(size) if isinstance(size, int) and not isinstance(size, bool) else None
        size = size if size is None or size >= 0 else None
        att_id = item.get("id")
        att_id = str(att_id) if isinstance(att_id, str | int) and att_id != "" else None
        send, reason = True, None
        if mode == "metadata":
            send, reason = False, "content not sent (the organisation's email.attachments)"
        elif size is not None and size > max_bytes:
            send = False
            reason = f"larger than {human_size(max_bytes)} (email.attachmentMaxBytes)"
        elif att_id is None:
            send, reason = False, "the mailbox gives no attachment id to fetch it by"
        out.append(File(len(out), att_id, name, mime, size, send, reason))
    return out


def entry(
    file: File,
    *,
    content: str | None = None,
    missing: bool = False,
    reason: str | None = None,
    size: int | None = None,
) -> dict[str, Any]:
    """The contract's Attachment object of a file (`content`: base64, when sent inline).

    `mimeType` repeats `contentType` for connectors written before `contentType` existed.
    """
    out: dict[str, Any] = {
        "name": file.name,
        "contentType": file.content_type,
        "mimeType": file.content_type,
        "size": size if size is not None else file.size,
        "missing": missing,
        "reason": reason if reason is not None else file.reason,
    }
    if content is not None:
        out["content"] = content
    return out


def same_file(stored: object, file: File) -> bool:
    """Does a CRM's attachment entry hold this file's content already (look before resending)?"""
    if not isinstance(stored, Mapping) or stored.get("missing") is True:
        return False
    if stored.get("name") != file.name:
        return False
    return file.size is None or stored.get("size") == file.size


def delivered(stored: Iterable[object], file: File) -> bool:
    return any(same_file(s, file) for s in stored)


def dump_keys(keys: Iterable[str]) -> str | None:
    """The claim's `files_missing` value: None when nothing is missing."""
    listed = sorted(set(keys))
    return json.dumps(listed) if listed else None


def load_keys(value: str | None) -> set[str]:
    if not value:
        return set()
    try:
        keys = json.loads(value)
    except ValueError:
        return set()
    return {k for k in keys if isinstance(k, str)} if isinstance(keys, list) else set()
