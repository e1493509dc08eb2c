"""Message content for the CRM: plain text from HTML, attachment metadata, the Email payload.

Pure functions; bodies arrive already loaded (load them only for messages being logged).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from inscriptis import get_text
from inscriptis.model.config import ParserConfig

from brightsync.email.message import (
    MAX_SUBJECT_LENGTH,
    header,
    message_id_of,
    normalize_message_id,
    parse_address_list,
)
from brightsync.people.names import decode_encoded_words

MAX_HTML_CHARS = 2_000_000  # htmlBody sent to the CRM is cut here
MAX_HTML_PARSE_CHARS = 1_000_000  # text conversion reads this much (inscriptis is ~2 s/MB)
MAX_TEXT_CHARS = 1_000_000
MAX_ATTACHMENTS = 100
MAX_RECIPIENTS = 500  # per list in the CRM payload; Decision.truncated records the cut
DEFAULT_CONTENT_CAP_BYTES = 3 * 1024 * 1024

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HTML_HINT_RE = re.compile(
    r"<(?:!doctype|html|head|body|div|p|br|span|table|tr|td|a\s|img|font|b|i|u|strong|em|"
    r"ul|ol|li|h[1-6]|meta|style|blockquote|center|hr)\b[^>]*>",
    re.IGNORECASE,
)
_TAG_RE = re.compile(r"<[^>]{0,2000}>")
_SCRIPT_STYLE_RE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# Inline images ('data:image/png;base64,...') can be megabytes of no text at all.
_DATA_URI_RE = re.compile(r"data:[^\"'\s>]{256,}", re.IGNORECASE)
_PARSER_CONFIG = ParserConfig(display_links=False, display_images=False)

EMPTY_RELATED_TO: dict[str, list[str]] = {"contacts": [], "companies": [], "opportunities": []}


def _clean(text: str) -> str:
    """Drop control characters and lone surrogates (unencodable, refused by lxml and JSON)."""
    text = _CONTROL_RE.sub("", text)
    return text.encode("utf-8", "replace").decode("utf-8", "replace")


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)  # inscriptis keeps layout blank lines generously
    return text.strip()[:MAX_TEXT_CHARS]


def html_to_text(html: object) -> str:
    """Readable plain text of an HTML body; never raises, bounded in time and size."""
    if not isinstance(html, str) or not html.strip():
        return ""
    source = html[: MAX_HTML_PARSE_CHARS * 10]
    if "data:" in source:
        source = _DATA_URI_RE.sub("data:", source)
    if len(source) > MAX_HTML_PARSE_CHARS:
        source = source[:MAX_HTML_PARSE_CHARS]
        end = source.rfind(">")
        if end > MAX_HTML_PARSE_CHARS // 2:
            source = source[: end + 1]  # no dangling half tag: it would surface as text
    # lxml rejects control characters and lone surrogates; they carry no text anyway.
    source = _clean(source)
    try:
        text = get_text(source, _PARSER_CONFIG)
    except Exception:  # garbage lxml cannot parse
        text = ""
    if not text.strip():
        # lxml silently drops absurd documents (e.g. 100k nested divs): crude strip instead.
        text = html_lib.unescape(_TAG_RE.sub(" ", _SCRIPT_STYLE_RE.sub(" ", source)))
        text = re.sub(r"[ \t]{2,}", " ", text)
    return _tidy(text)


def looks_like_html(body: object) -> bool:
    """True when a body contains recognisable HTML markup (first 64 KB are inspected)."""
    return isinstance(body, str) and bool(_HTML_HINT_RE.search(body[:65536]))


def body_omitted(msg: object) -> bool:
    """True when the body must be loaded separately (GET /v1/email/messages/{id}).

    List and sync calls return full bodies only for Google and Office 365 (see `omitted[]`).
    """
    if not isinstance(msg, Mapping):
        return True
    omitted = msg.get("omitted")
    if isinstance(omitted, list | tuple) and any(
        isinstance(x, str) and x.strip().lower() == "body" for x in omitted[:50]
    ):
        return True
    return not isinstance(msg.get("body"), str)


def text_and_html(msg: object) -> tuple[str, str | None]:
    """(textBody, htmlBody) from the message body: HTML bodies are converted to text too."""
    body = msg.get("body") if isinstance(msg, Mapping) else None
    if not isinstance(body, str) or not body:
        return "", None
    if looks_like_html(body):
        html = _clean(body[:MAX_HTML_CHARS])
        return html_to_text(body), html
    return _clean(body[:MAX_TEXT_CHARS]).strip(), None


def _content_size(content: str) -> int:
    """Decoded byte size of base64 content (the provider's size can be missing)."""
    stripped = content.strip()
    padding = len(stripped) - len(stripped.rstrip("="))
    return max(len(stripped) * 3 // 4 - padding, 0)


def attachment_metadata(
    attachments: object, content_cap_bytes: int = DEFAULT_CONTENT_CAP_BYTES
) -> list[dict[str, Any]]:
    """CRM attachment entries {name, mimeType, size, inline, contentId[, content]}.

    `content` (base64, as Aurinko sends it) is kept only when the attachment is not bigger
    than `content_cap_bytes`; bigger files are logged by metadata alone.
    """
    if not isinstance(attachments, Sequence) or isinstance(attachments, str | bytes):
        return []
    out: list[dict[str, Any]] = []
    for item in list(attachments[:MAX_ATTACHMENTS]):
        if not isinstance(item, Mapping):
            continue
        content = item.get("content")
        content = content if isinstance(content, str) and content else None
        size = item.get("size")
        if isinstance(size, bool) or not isinstance(size, int | float) or size < 0:
            size = _content_size(content) if content else None
        name = item.get("name")
        name = _clean(decode_encoded_words(name)[:255]) if isinstance(name, str) else None
        mime = item.get("mimeType")
        cid = item.get("contentId")
        entry: dict[str, Any] = {
            "name": name,
            "mimeType": mime[:255] if isinstance(mime, str) else None,
            "size": int(size) if size is not None else None,
            "inline": item.get("inline") is True,
            "contentId": cid[:255] if isinstance(cid, str) else None,
        }
        if content is not None and size is not None and size <= max(content_cap_bytes, 0):
            entry["content"] = content
        out.append(entry)
    return out


def _addresses(value: object, limit: int = MAX_RECIPIENTS) -> list[str]:
    return [addr for addr, _ in parse_address_list(value, limit)[0]]


def _bracketed(mid: str | None) -> str | None:
    return f"<{mid}>" if mid else None


def build_crm_email(
    msg: Mapping[str, Any],
    *,
    thread_id: str | None,
    related_to: Mapping[str, Any] | None,
    text_body: str | None,
    html_body: str | None,
    attachments: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """The CRM Email payload with every contract field present (None/[] when unknown).

    rfc822MsgId and inReplyTo are normalised Message-IDs written in RFC 5322 form '<id>'; use
    payload['rfc822MsgId'] itself for `GET /api/v1/emails?rfc822MsgId=` idempotency lookups.
    """
    msg = msg if isinstance(msg, Mapping) else {}
    sender = parse_address_list(msg.get("from") or header(msg, "From"), 1)[0]
    from_address, from_name = sender[0] if sender else (None, None)
    in_reply = msg.get("inReplyTo") or header(msg, "In-Reply-To")
    in_reply_id = None
    if isinstance(in_reply, str):
        found = re.findall(r"<[^<>]*>", in_reply[:4096]) or [in_reply]
        in_reply_id = normalize_message_id(found[0])
    subject = msg.get("subject")
    subject = (
        _clean(decode_encoded_words(subject[: MAX_SUBJECT_LENGTH * 4]))[:MAX_SUBJECT_LENGTH]
        if isinstance(subject, str)
        else ""
    )
    received = msg.get("receivedAt") or msg.get("sentAt")
    provider_id = msg.get("id")
    related = {k: list(v) for k, v in EMPTY_RELATED_TO.items()}
    if isinstance(related_to, Mapping):
        for k in related:
            ids = related_to.get(k)
            if isinstance(ids, list | tuple):
                related[k] = [i for i in ids if i is not None]
        leads = related_to.get("leads")  # only when there are any: connectors without leads
        if isinstance(leads, list | tuple) and any(i is not None for i in leads):
            related["leads"] = [i for i in leads if i is not None]
    return {
        "msgId": (
            str(provider_id)
            if isinstance(provider_id, str | int) and not isinstance(provider_id, bool)
            else None
        ),
        "syncThreadId": thread_id,
        "inReplyTo": _bracketed(in_reply_id),
        "receivedAt": received if isinstance(received, str) else None,
        "rfc822MsgId": _bracketed(message_id_of(msg)),
        "subject": subject,
        "fromAddress": from_address,
        "fromName": from_name or None,
        "toAddresses": _addresses(msg.get("to")),
        "ccAddresses": _addresses(msg.get("cc")),
        "bccAddresses": _addresses(msg.get("bcc")),
        "textBody": text_body if isinstance(text_body, str) else "",
        "htmlBody": html_body if isinstance(html_body, str) else None,
        "attachments": list(attachments) if isinstance(attachments, list | tuple) else [],
        "relatedTo": related,
    }
