"""Emails: logged with every contract field, found by Message-ID alone, re-linked."""

from __future__ import annotations

import base64
from typing import Any

from brightsync.connector.checks import records
from brightsync.connector.checks.run import CheckRun
from brightsync.connector.contract import API
from brightsync.connector.probe import Failed, NotOffered, Skipped, expect, ids, record_path, shape
from brightsync.connector.schemas import AttachmentSchema


def email_payload(run: CheckRun) -> dict[str, Any]:
    contact = run.records.get("contact")
    return {
        "msgId": f"check-{run.id}",
        "syncThreadId": f"thread-{run.id}",
        "inReplyTo": None,
        "receivedAt": run.started.isoformat(),
        "rfc822MsgId": f"<check-{run.id}@brightsync-check.example>",
        "subject": f"BrightSync connector check {run.id}",
        "fromAddress": run.address("a"),
        "fromName": "Connector Check",
        "toAddresses": [f"owner-{run.id}@brightsync-check.example"],
        "ccAddresses": [],
        "bccAddresses": [],
        "textBody": "A test email logged by `brightsync connector check`.",
        "htmlBody": "<p>A test email logged by <code>brightsync connector check</code>.</p>",
        "attachments": [
            {
                "name": "check.txt",
                "contentType": "text/plain",
                "mimeType": "text/plain",
                "size": 5,
                "inline": False,
                "contentId": None,
                "content": base64.b64encode(b"hello").decode(),
            }
        ],
        "relatedTo": {
            "contacts": [contact["id"]] if contact else [],
            "companies": [],
            "opportunities": [],
        },
    }


def create(run: CheckRun) -> str:
    email = run.created("emails", email_payload(run), "email")
    return f"logged email {email['id']} with every contract field"


def lookup(run: CheckRun) -> str:
    email = run.need("email")
    msg_id = email_payload(run)["rfc822MsgId"]
    found = run.probe.get_list(f"{API}/emails", {"rfc822MsgId": msg_id}, what="email lookup")
    for record in found:
        shape("emails", record, "email lookup answer")
    if str(email["id"]) not in ids(found):
        raise Failed(
            f"looking up {msg_id} did not find email {email['id']} just created: "
            "look-before-create cannot prevent duplicates"
        )
    others = [
        r for r in found if isinstance(r, dict) and r.get("rfc822MsgId") not in (None, msg_id)
    ]
    unknown = f"<unknown-{run.id}@brightsync-check.example>"
    stray = run.probe.get_list(f"{API}/emails", {"rfc822MsgId": unknown}, what="email lookup")
    if others or stray:
        raise Failed(
            "the lookup returns emails of other messages (is rfc822MsgId ignored?): "
            f"{len(others) + len(stray)} unrelated"
        )
    return "finds the logged email by Message-ID and nothing else"


def update(run: CheckRun) -> str:
    email = run.need("email")
    contacts = [r["id"] for k, r in run.records.items() if k in ("contact", "contact2")]
    change: dict[str, Any] = {"subject": f"BrightSync connector check {run.id} (re-linked)"}
    if contacts:
        change["relatedTo"] = {"contacts": contacts, "companies": [], "opportunities": []}
    method, reply = records.patch_or_put(run, "emails", email, change)
    expect(reply, what=f"{method} email")
    records.verify_change(run, "emails", email, change, reply)
    return f"re-links a logged email with {method}"


def attach(run: CheckRun) -> str:
    """The optional upload: one file, sent twice with one Idempotency-Key, kept once, and
    (where downloads are offered) served back byte for byte."""
    email = run.need("email")
    path = record_path("emails", email) + "/attachments"
    data = f"BrightSync connector check {run.id}\n".encode() * 64
    name = f"check-{run.id}.txt"
    key = f"check-{run.id}-attachment"

    def upload() -> Any:
        files = {"file": (name, data, "text/plain")}
        return run.probe.call("POST", path, files=files, headers={"Idempotency-Key": key})

    first = upload()
    if first.absent:
        raise NotOffered(first.describe())
    expect(first, what="upload")
    shape(AttachmentSchema, first.body, f"POST {path} answer")
    if first.body.get("size") not in (None, len(data)):
        raise Failed(f"the upload kept {first.body.get('size')} bytes of {len(data)}")
    expect(upload(), what="repeated upload")
    loaded = run.probe.call("GET", record_path("emails", email))
    if not loaded.ok or not isinstance(loaded.body, dict):
        raise Skipped("uploaded; not verified: the email cannot be loaded (emails.get)")
    kept = [a for a in loaded.body.get("attachments") or [] if a.get("name") == name]
    if len(kept) != 1:
        raise Failed(
            f"the email lists the file {len(kept)} times after two uploads with one "
            "Idempotency-Key: a retried upload would double it"
        )
    file_id = kept[0].get("id")
    served = run.probe.call("GET", f"{path}/{file_id}") if file_id is not None else None
    if served is None or served.absent:
        return "takes a file once per Idempotency-Key (no download to compare)"
    if not served.ok or served.raw != data:
        raise Failed(f"the file served back differs from the one uploaded: {served.describe()}")
    return "takes a file once per Idempotency-Key and serves back the same bytes"
