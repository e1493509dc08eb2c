"""Attachment files from Aurinko, streamed: `GET /v1/email/messages/{id}/attachments/{attId}`.

Aurinko answers `{"content": "<base64>"}` (EmailAttachmentContent). The answer is read in
chunks and the base64 string decoded as it arrives (`ContentReader`), straight into the
caller's file: neither the JSON, nor the base64, nor the file is ever held whole, so a worker
logging a 10 MiB file grows by a few chunks, not by 3-4 copies of the file.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote

import requests

from brightsync.clients.aurinko import AurinkoClient
from brightsync.clients.http import FinalError, TransientError

CHUNK = 64 * 1024
_CONTENT_KEY = re.compile(r'"content"\s*:\s*(\S)')
_ESCAPES = {"/": "/", "n": "", "r": "", "t": "", "\\": "\\", '"': '"', "b": "", "f": ""}
_WHITESPACE = str.maketrans("", "", " \r\n\t")
_URLSAFE = str.maketrans("-_", "+/")


class BadContent(ValueError):
    """The answer is not an object with a base64 `content` string."""


class TooLarge(ValueError):
    """The file turned out larger than the caller's limit (the metadata said otherwise)."""


class ContentReader:
    """Finds the `content` string of a JSON object fed in text chunks and hands its decoded
    bytes to `sink` as they come (a few KB held at a time)."""

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self._sink = sink
        self._state = "seek"  # seek -> string -> done
        self._head = ""  # text before the content string (bounded)
        self._carry = ""  # an escape split across chunks
        self._pending = ""  # base64 characters short of a group of four

    def feed(self, text: str) -> None:
        if self._state == "seek":
            self._head += text
            found = _CONTENT_KEY.search(self._head)
            if found is None:
                self._head = self._head[-8192:]  # what a key split across chunks needs
                return
            if found.group(1) != '"':
                raise BadContent("the attachment answer has no content string")
            text, self._head, self._state = self._head[found.end() :], "", "string"
        if self._state == "string":
            self._string(self._carry + text)

    def _string(self, text: str) -> None:
        self._carry = ""
        out: list[str] = []
        i = 0
        while i < len(text):
            quote_at = text.find('"', i)
            slash_at = text.find("\\", i)
            stops = [p for p in (quote_at, slash_at) if p >= 0]
            if not stops:
                out.append(text[i:])
                break
            stop = min(stops)
            out.append(text[i:stop])
            if stop == quote_at:
                self._state = "done"
                break
            escape = text[stop + 1 : stop + 2]
            if not escape or (escape == "u" and len(text) < stop + 6):
                self._carry = text[stop:]  # finish it with the next chunk
                break
            if escape == "u":
                out.append(chr(int(text[stop + 2 : stop + 6], 16)))
                i = stop + 6
            elif escape in _ESCAPES:
                out.append(_ESCAPES[escape])
                i = stop + 2
            else:
                raise BadContent(f"bad escape \\{escape} in the attachment content")
        self._decode("".join(out))

    def _decode(self, chars: str) -> None:
        chars = self._pending + chars.translate(_WHITESPACE).translate(_URLSAFE)
        if self._state == "done":
            chars += "=" * (-len(chars) % 4)  # tolerate missing padding at the very end
            take = len(chars)
        else:
            take = len(chars) - len(chars) % 4  # whole groups of four only
        self._pending = chars[take:]
        if not take:
            return
        try:
            data = base64.b64decode(chars[:take], validate=True)
        except binascii.Error as exc:
            raise BadContent(f"the attachment content is not base64: {exc}") from None
        self._sink(data)

    def close(self) -> None:
        if self._state != "done":
            raise BadContent("the attachment answer ended before its content did")


@dataclass(frozen=True)
class Fetched:
    size: int
    sha256: str


def fetch_attachment(
    client: AurinkoClient,
    message_id: str,
    attachment_id: str,
    sink: IO[bytes],
    *,
    max_bytes: int | None = None,
) -> Fetched:
    """Write one attachment's bytes to `sink`; its size and SHA-256.

    Raises what `client.request` raises (TransientError, TokenDeadError, NotFoundError, …);
    a connection lost mid-file is a TransientError, an answer without base64 content a
    FinalError, a file over `max_bytes` `TooLarge` (reading stops there).
    """
    path = (
        f"/v1/email/messages/{quote(str(message_id), safe='')}"
        f"/attachments/{quote(str(attachment_id), safe='')}"
    )
    digest = hashlib.sha256()
    size = 0

    def write(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if max_bytes is not None and size > max_bytes:
            raise TooLarge(f"the file is larger than {max_bytes} bytes")
        digest.update(data)
        sink.write(data)

    reader = ContentReader(write)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    response = client.request("GET", path, stream=True)
    try:
        for chunk in response.iter_content(CHUNK):
            reader.feed(decoder.decode(chunk))
        reader.feed(decoder.decode(b"", final=True))
        reader.close()
    except (
        requests.ConnectionError,
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
    ) as exc:
        raise TransientError(
            f"the attachment download broke off: {exc}", method="GET", url=client.url(path)
        ) from None
    except BadContent as exc:
        raise FinalError(str(exc), method="GET", url=client.url(path)) from None
    finally:
        response.close()
    return Fetched(size=size, sha256=digest.hexdigest())
