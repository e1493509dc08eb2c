"""The streamed reading of Aurinko's attachment answer `{"content": "<base64>"}` (pure)."""

from __future__ import annotations

import base64
import io
import json
import os

import pytest

from brightsync.clients.aurinko_files import BadContent, ContentReader


def _read(text: str, step: int) -> bytes:
    out = io.BytesIO()
    reader = ContentReader(out.write)
    for i in range(0, len(text), step):
        reader.feed(text[i : i + step])
    reader.close()
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 2, 3, 1000, 200_000])
@pytest.mark.parametrize("step", [1, 5, 64 * 1024])
def test_decodes_exactly_whatever_the_chunks(size, step):
    if size > 1000 and step < 5:
        pytest.skip("slow and says nothing more")
    data = os.urandom(size)
    # Escaped slashes and other fields, as JSON writers may send them.
    answer = json.dumps({"id": "a1", "content": base64.b64encode(data).decode()}).replace(
        "/", "\\/"
    )
    assert _read(answer, step) == data


def test_sinks_in_pieces_never_the_whole_file():
    seen: list[int] = []
    data = os.urandom(300_000)
    reader = ContentReader(lambda b: seen.append(len(b)))
    text = json.dumps({"content": base64.b64encode(data).decode()})
    for i in range(0, len(text), 64 * 1024):
        reader.feed(text[i : i + 64 * 1024])
    reader.close()
    assert sum(seen) == len(data) and max(seen) <= 64 * 1024


@pytest.mark.parametrize(
    "answer", ['{"content": null}', '{"other": "x"}', '{"content": "AAA*"}', '{"content": "AA']
)
def test_refuses_answers_without_base64_content(answer):
    with pytest.raises(BadContent):
        _read(answer, 3)
