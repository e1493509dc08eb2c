"""Mail: delivering a message into the mailboxes of its sender and recipients (with their
own ids, labels and threads), raw messages, reading and trashing a message, and how a
message is rendered (body present or omitted). Attachment bytes are kept beside the records
(one copy for every mailbox) and served by `GET /v1/email/messages/{id}/attachments/{attId}`;
a message read carries no file content, only inline parts' with `loadInlines=true`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import time
import uuid
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any

from brightsync.sandbox.aurinko import records as R
from brightsync.sandbox.aurinko.model import Account, Item
from brightsync.sandbox.aurinko.records import ApiFailure, bad_request, not_found
from brightsync.sandbox.aurinko.state import AurinkoSimulator


def message_json(
    account: Account, item: Item, body_type: str, *, full: bool, load_inlines: bool = False
) -> dict[str, Any]:
    out = R.clean(item.record)
    if item.meta.get("raw"):
        return out
    body = item.meta.get("body")
    if full or account.provider in ("google", "office365"):
        if body is not None:
            out["body"] = R.render_body(body, item.meta.get("bodyType", "html"), body_type)
    else:
        out["omitted"] = ["body"]
    files = item.meta.get("files") or {}
    if full and load_inlines:
        for att in out.get("attachments") or []:
            if att.get("inline") and att.get("id") in files:
                att["content"] = files[att["id"]]
    return out


def get_attachment(
    sim: AurinkoSimulator, account: Account, message_id: str, attachment_id: str
) -> str:
    """The base64 content of one attachment of a message (counted in the statistics)."""
    with sim.lock:
        item = account.feeds["email"].items.get(message_id)
        if item is None or item.deleted:
            raise not_found(f"message {message_id}")
        content = (item.meta.get("files") or {}).get(attachment_id)
        if content is None:
            raise not_found(f"attachment {attachment_id} of message {message_id}")
        sim.stats.attachment_bytes += _decoded_size(content)
        return content


def _decoded_size(content: str) -> int:
    padding = len(content) - len(content.rstrip("="))
    return len(content) * 3 // 4 - padding


def get_message(
    sim: AurinkoSimulator,
    account: Account,
    message_id: str,
    body_type: str,
    load_inlines: bool = False,
) -> dict[str, Any]:
    with sim.lock:
        item = account.feeds["email"].items.get(message_id)
        if item is None or item.deleted:
            raise not_found(f"message {message_id}")
        served = item.meta.get("timeouts", 0)
        if served < account.thread_id_delay:
            item.meta["timeouts"] = served + 1
            raise ApiFailure(
                408,
                "timeout",
                "threadId is not yet available, retry later",
                headers={"Retry-After": str(account.retry_after)},
            )
        return message_json(account, item, body_type, full=True, load_inlines=load_inlines)


def trash_message(sim: AurinkoSimulator, account: Account, message_id: str) -> None:
    """DELETE /v1/email/messages/{id}: the message moves to Trash (an update, not a delete)."""
    with sim.lock:
        item = account.feeds["email"].items.get(message_id)
        if item is None or item.deleted:
            raise not_found(f"message {message_id}")
        labels = [x for x in item.record.get("sysLabels") or [] if x != "inbox"]
        item.record["sysLabels"] = sorted(set(labels) | {"trash"})
        item.record["folderId"] = "TRASH"
        item.record["lastModifiedTime"] = R.iso(time.time())
        sim.store(account, "email", item, "updated")


def deliver_mail(sim: AurinkoSimulator, data: Mapping[str, Any]) -> dict[str, Any]:
    """Deliver one message into every simulated mailbox among its sender and recipients."""
    sender = R.address(data.get("from"))
    if sender is None:
        raise bad_request("from.address is required")
    to, cc, bcc = (R.addresses(data.get(k)) for k in ("to", "cc", "bcc"))
    reply_to = R.addresses(data.get("replyTo"))
    body_type = data.get("bodyType") or "html"
    if body_type not in ("html", "text"):
        raise bad_request("bodyType must be html or text")
    body = str(data.get("body") or "")
    imid = data.get("internetMessageId") or f"<{uuid.uuid4().hex}@sandbox.brightsync.test>"
    now = time.time()
    sent_at = R.parse_time(data.get("sentAt")) or now
    override = data.get("sysLabels")
    if override is not None and not set(override) <= R.SYS_LABELS:
        raise bad_request("sysLabels must be among " + ", ".join(sorted(R.SYS_LABELS)))
    if data.get("sensitivity") not in (None, "normal", "private", "personal", "confidential"):
        raise bad_request("sensitivity must be normal, private, personal or confidential")
    if data.get("meetingMessageMethod") not in (
        None,
        "request",
        "reply",
        "cancel",
        "counter",
        "other",
    ):
        raise bad_request("meetingMessageMethod must be request, reply, cancel, counter, other")
    headers = _internet_headers(data, sender, to, cc, imid, sent_at)
    attachments, files = _attachments(data.get("attachments") or [])
    base = {
        "createdTime": R.iso(now),
        "lastModifiedTime": R.iso(now),
        "sentAt": R.iso(sent_at),
        "receivedAt": R.iso(sent_at),
        "internetMessageId": imid,
        "subject": str(data.get("subject") or ""),
        "from": sender,
        "to": to,
        "cc": cc,
        "replyTo": reply_to,
        "hasAttachments": any(not a.get("inline") for a in attachments),
        "bodySnippet": R.snippet(body, body_type),
        "attachments": attachments,
        "inReplyTo": data.get("inReplyTo"),
        "references": data.get("references"),
        "internetHeaders": headers,
        "sensitivity": data.get("sensitivity") or "normal",
        "meetingMessageMethod": data.get("meetingMessageMethod"),
        "keywords": data.get("keywords"),
    }
    recipients = {a["address"].lower() for a in to + cc + bcc}
    copies: dict[str, str] = {}
    with sim.lock:
        held = {sender["address"].lower()} | recipients
        ids = sorted({i for addr in held for i in sim.by_email.get(addr, [])})
        for account in (sim.accounts[i] for i in ids):
            mine = account.email.lower()
            is_sender = mine == sender["address"].lower()
            if not is_sender and mine not in recipients:
                continue
            labels = (["sent"] if is_sender else []) + (
                ["inbox", "unread"] if mine in recipients else []
            )
            record = copy.deepcopy(base)
            record["sysLabels"] = list(override) if override is not None else labels
            record["folderId"] = (
                "INBOX"
                if "inbox" in record["sysLabels"]
                else ("SENT" if "sent" in record["sysLabels"] else "ARCHIVE")
            )
            if is_sender:
                record["bcc"] = bcc
            message_id = sim.new_id(account.provider, "message")
            thread_id = _thread_for(sim, account, data, imid)
            record = {"id": message_id, "threadId": thread_id, **record}
            # Empty lists and strings are left out, as the API does; the subject stays.
            record = {k: v for k, v in record.items() if k == "subject" or v not in ([], "")}
            item = Item(
                id=message_id,
                record=R.clean(record),
                seq=0,
                created=now,
                meta={"body": body, "bodyType": body_type, "files": files},
            )
            sim.store(account, "email", item, "created")
            copies[str(account.id)] = message_id
    return {"internetMessageId": imid, "copies": copies}


def _attachments(given: list[Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(the records' attachments[], {attachment id: base64 content}): the bytes are kept
    apart, once for every copy, and `size` is the decoded size unless one is given."""
    attachments, files = [], {}
    for i, att in enumerate(given, start=1):
        if not isinstance(att, dict):
            raise bad_request("attachments[] must be objects")
        att = {k: v for k, v in att.items() if k in R.ATTACHMENT_FIELDS}
        content = att.pop("content", None)
        att.setdefault("id", f"att{i}")
        att.setdefault("name", f"attachment-{i}")
        att.setdefault("mimeType", "application/octet-stream")
        att.setdefault("inline", False)
        if content is not None:
            try:
                raw = base64.b64decode(str(content), validate=True)
            except binascii.Error:
                raise bad_request(f"attachments[{i - 1}].content must be base64") from None
            files[str(att["id"])] = str(content)
            att.setdefault("size", len(raw))
        attachments.append(R.clean(att))
    return attachments, files


def _internet_headers(
    data: Mapping[str, Any], sender: dict, to: list, cc: list, imid: str, sent_at: float
) -> list[dict[str, str]]:
    custom = [
        {"name": str(h["name"]), "value": str(h.get("value", ""))}
        for h in data.get("headers") or data.get("internetHeaders") or []
        if isinstance(h, dict) and h.get("name")
    ]
    present = {h["name"].lower() for h in custom}
    standard = [
        ("Message-ID", imid),
        ("Date", formatdate(sent_at, usegmt=True)),
        ("From", R.format_address(sender)),
        ("To", ", ".join(R.format_address(a) for a in to)),
        ("Cc", ", ".join(R.format_address(a) for a in cc)),
        ("Subject", str(data.get("subject") or "")),
        ("In-Reply-To", data.get("inReplyTo") or ""),
        ("References", data.get("references") or ""),
    ]
    out = [{"name": n, "value": v} for n, v in standard if v and n.lower() not in present]
    return out + custom


def _thread_for(sim: AurinkoSimulator, account: Account, data: Mapping[str, Any], imid: str) -> str:
    """Join the mailbox's thread of a message this one answers, else start a new thread."""
    related = [data.get("inReplyTo") or ""] + str(data.get("references") or "").split()
    thread = next((account.threads[r] for r in related if r in account.threads), None)
    thread = thread or sim.new_id(account.provider, "thread")
    account.threads.setdefault(imid, thread)
    return thread


def put_raw_message(sim: AurinkoSimulator, account_id: int, raw: Mapping[str, Any]) -> str:
    if not isinstance(raw, dict):
        raise bad_request("the message must be a JSON object")
    with sim.lock:
        account = sim.account(account_id)
        record = copy.deepcopy(dict(raw))  # as-is: no normalisation at all
        message_id = str(raw.get("id") or sim.new_id(account.provider, "message"))
        record.setdefault("id", message_id)
        item = Item(id=message_id, record=record, seq=0, created=time.time(), meta={"raw": True})
        sim.store(account, "email", item, "created")
        return message_id


def delete_message(sim: AurinkoSimulator, account_id: int, message_id: str) -> None:
    with sim.lock:
        account = sim.account(account_id)
        item = account.feeds["email"].items.get(message_id)
        if item is None or item.deleted:
            raise not_found(f"message {message_id}")
        item.deleted, item.deleted_at = True, time.time()
        sim.store(account, "email", item, "deleted")
