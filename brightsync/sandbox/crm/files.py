"""Attachment files of logged emails in the reference CRM: their bytes are kept apart from the
email record (which lists each file by `id`), sent inside an email as base64 `content` or
uploaded one at a time (`POST /emails/{id}/attachments`, multipart), and served back
(`GET /emails/{id}/attachments/{attachmentId}`) so a test can compare them byte for byte.
An email's answer never carries `content`: a connector need not echo files back."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Any

from flask import Response, jsonify, request

from brightsync.sandbox.crm.errors import BadRequest, NotFound
from brightsync.sandbox.crm.state import broken, crm
from brightsync.sandbox.crm.wire import found, out

#: How long an upload's Idempotency-Key is remembered (as a create's).
UPLOAD_KEY_WINDOW = timedelta(hours=24)


def stash(kind: str, record: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    """An email's attachments with their `content` moved to the file store (each entry gets
    the file's `id` and its real `size`); an entry without content that names a file the
    email holds keeps it (a PATCH of the list need not send every file again)."""
    if kind != "emails" or not record.get("attachments"):
        return record
    held = {
        a.get("id")
        for a in (existing or {}).get("attachments") or []
        if isinstance(a, dict) and a.get("id") is not None
    }
    store = crm().store
    kept = []
    for index, given in enumerate(record["attachments"]):
        entry = dict(given)
        content = entry.pop("content", None)
        if content:
            try:
                data = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest(f"attachments[{index}].content is not base64") from None
            media = entry.get("contentType") or entry.get("mimeType")
            entry.update(id=store.put_file(data, media), size=len(data), missing=False)
        elif entry.get("id") not in held:
            entry["id"] = None  # no file of this email: an id the caller made up means nothing
        kept.append(entry)
    return {**record, "attachments": kept}


def attach(record_id: str) -> Any:
    """POST /emails/{id}/attachments: one file; it completes the entry of that name marked
    missing, else it is added. The same Idempotency-Key again answers the first upload."""
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("a multipart/form-data body with the part `file` is required")
    name = upload.filename or "attachment"
    media = upload.mimetype or "application/octet-stream"
    key = (request.headers.get("Idempotency-Key") or "").strip()[:255]
    honour = bool(key) and not broken("ignores_idempotency_key")
    store = crm().store
    with store.lock:
        email = found("emails", record_id)
        entries = [dict(a) for a in email.get("attachments") or [] if isinstance(a, dict)]
        known = store.remembered("email_attachments", key, UPLOAD_KEY_WINDOW) if honour else None
        replay = next((a for a in entries if known is not None and a.get("id") == known), None)
        if replay is not None:
            response = jsonify(replay)
            response.headers["Idempotent-Replayed"] = "true"
            response.status_code = 201
            return response
        data = upload.read()
        entry = {
            "id": store.put_file(data, media),
            "name": name,
            "contentType": media,
            "mimeType": media,
            "size": len(data),
            "inline": False,
            "contentId": None,
            "missing": False,
            "reason": None,
        }
        for index, existing in enumerate(entries):
            if existing.get("missing") is True and existing.get("name") == name:
                entries[index] = {**existing, **entry}
                break
        else:
            entries.append(entry)
        store.save("emails", {**email, "attachments": entries})
        if honour:
            store.remember("email_attachments", key, entry["id"])
    response = jsonify(out("attachments", entry))
    response.status_code = 201
    return response


def download(record_id: str, attachment_id: str) -> Any:
    """GET /emails/{id}/attachments/{attachmentId}: the file's bytes."""
    email = found("emails", record_id)
    ids = {str(a.get("id")) for a in email.get("attachments") or [] if isinstance(a, dict)}
    stored = crm().store.file(attachment_id) if attachment_id in ids else None
    if stored is None:
        raise NotFound(f"email {record_id} has no attachment {attachment_id}")
    data, media = stored
    return Response(data, mimetype=media or "application/octet-stream")
