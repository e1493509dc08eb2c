"""Attachment files to a CRM connector, from disk rather than memory.

Two ways, as the contract offers (docs/connector.md, "Attachments"):

* `upload_attachment`: the optional `POST /api/v1/emails/{id}/attachments`, one file per
  call, as multipart/form-data with an `Idempotency-Key` per file (capability
  `email_attachments`). The body is written to a temporary file and streamed from there.
* `json_body`: an Email whose `attachments[].content` carries every file (base64), written to
  a temporary file with each file's content encoded from its own temporary file in chunks,
  then sent as the body of `POST /emails` (or of `PATCH /emails/{id}`: `patch_email`).

Temporary files stay in memory up to SPOOL_BYTES and move to disk beyond, so memory does not
grow with the size of a file in either way; the JSON way holds every file of the email on
disk at once, the upload way one.
"""

from __future__ import annotations

import base64
import json
import tempfile
import uuid
from collections.abc import Iterable
from typing import IO, Any
from urllib.parse import quote

from brightsync.clients.crm import CrmClient
from brightsync.clients.crm_http import API, ContractError
from brightsync.clients.http import FinalError

SPOOL_BYTES = 512 * 1024
_COPY = 3 * 64 * 1024  # a multiple of 3: base64 of each piece joins without padding


def spooled() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # type: ignore[return-value]


def _quoted(value: str) -> str:
    """A multipart header parameter value (quotes and line breaks would end it)."""
    return value.replace("\\", "_").replace('"', "_").replace("\r", " ").replace("\n", " ")


def multipart_body(name: str, content_type: str, source: IO[bytes]) -> tuple[IO[bytes], str]:
    """(body file, Content-Type header) of a multipart/form-data upload of one file."""
    boundary = f"brightsync-{uuid.uuid4().hex}"
    body = spooled()
    body.write(
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{_quoted(name)}"\r\n'
            f"Content-Type: {_quoted(content_type)}\r\n\r\n"
        ).encode()
    )
    source.seek(0)
    while piece := source.read(_COPY):
        body.write(piece)
    body.write(f"\r\n--{boundary}--\r\n".encode())
    body.seek(0)
    return body, f"multipart/form-data; boundary={boundary}"


def upload_attachment(
    crm: CrmClient,
    email_id: str,
    *,
    name: str,
    content_type: str,
    source: IO[bytes],
    idempotency_key: str,
) -> dict[str, Any]:
    """POST one file to a logged email; the connector's Attachment object.

    A lost answer raises MaybeCreated (the caller looks at the email before sending again);
    405/501 mark the capability unsupported.
    """
    body, media = multipart_body(name, content_type, source)
    path = f"{API}/emails/{quote(str(email_id), safe='')}/attachments"
    try:
        with body:
            response = crm.request(
                "POST",
                path,
                data=body,
                headers={"Content-Type": media, "Idempotency-Key": idempotency_key},
            )
    except FinalError as exc:
        crm.discovery.learned_unsupported("email_attachments", exc.status)
        raise
    answer = response.json() if response.content else {}
    if not isinstance(answer, dict):
        raise ContractError("an attachment upload answered no object", method="POST", url=path)
    return answer


def json_body(
    payload: dict[str, Any], attachments: Iterable[tuple[dict[str, Any], IO[bytes] | None]]
) -> IO[bytes]:
    """`payload` as JSON with `attachments` = the entries given, each with `content` encoded
    from its file when it has one. Written to a temporary file (rewound)."""
    head = {k: v for k, v in payload.items() if k != "attachments"}
    body = spooled()
    if head:  # the payload's fields without the closing brace, then the attachments
        body.write(json.dumps(head, ensure_ascii=False).encode()[:-1] + b', "attachments": [')
    else:
        body.write(b'{"attachments": [')
    for index, (entry, source) in enumerate(attachments):
        meta = {k: v for k, v in entry.items() if k != "content"}
        if index:
            body.write(b", ")
        if source is None:
            body.write(json.dumps(meta, ensure_ascii=False).encode())
            continue
        body.write(json.dumps({**meta, "content": ""}, ensure_ascii=False).encode()[:-2])
        source.seek(0)
        while piece := source.read(_COPY):
            body.write(base64.b64encode(piece))
        body.write(b'"}')
    body.write(b"]}")
    body.seek(0)
    return body


def patch_email(crm: CrmClient, email_id: str, body: IO[bytes]) -> None:
    """PATCH a logged email with a JSON body file (absolute values: safe to repeat)."""
    crm.request(
        "PATCH",
        f"{API}/emails/{quote(str(email_id), safe='')}",
        data=body,
        headers={"Content-Type": "application/json"},
    )
