"""`brightsync contacts duplicates` from a shell: a file, stdin, --json, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import clean_environ

pytestmark = pytest.mark.integration  # the brightsync command in real processes

CONTACTS = [
    {
        "id": "a1",
        "firstName": "Robert",
        "lastName": "Smith",
        "emailAddresses": ["rsmith@acme.com"],
        "phoneNumbers": ["(415) 555-0100"],
        "company": "Acme Inc.",
    },
    {
        "id": "b7",
        "firstName": "Bob",
        "lastName": "Smyth",
        "emailAddresses": [],
        "phoneNumbers": ["+1 415 555 0100"],
        "company": "",
    },
    {"id": 3, "firstName": "", "lastName": "", "emailAddresses": ["RSmith@ACME.com"]},
    {"id": "c9", "firstName": "Jane", "lastName": "Smith", "emailAddresses": ["jane@acme.com"]},
    {"id": "d2"},
    {"firstName": "Rob", "lastName": "Smith", "phoneNumbers": ["415-555-0100"]},
]


def run(tmp_path, *args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "brightsync", "contacts", "duplicates", *args],
        cwd=tmp_path,
        env=clean_environ(),
        input=stdin,
        capture_output=True,
        timeout=120,
    )


def test_pairs_from_a_file_and_from_stdin(tmp_path):
    path = tmp_path / "contacts.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in CONTACTS) + "\n\n", encoding="utf-8")
    out = run(tmp_path, "--json", str(path))
    assert out.returncode == 0, out.stderr
    pairs = [json.loads(line) for line in out.stdout.decode().splitlines()]
    by_ids = {frozenset((p["a"], p["b"])): p for p in pairs}
    # The contact without an id is named by its line number (6).
    assert set(by_ids) == {
        frozenset(("a1", "b7")),
        frozenset(("a1", 3)),
        frozenset(("a1", 6)),
        frozenset(("b7", 6)),
    }
    nickname = by_ids[frozenset(("a1", "b7"))]
    assert nickname["decision"] == "duplicate" and 0.8 <= nickname["score"] <= 1
    assert "same phone +14155550100" in nickname["reasons"]
    assert by_ids[frozenset(("a1", 3))]["score"] == 1.0
    assert set(nickname) == {"a", "b", "score", "decision", "reasons"}

    text = run(tmp_path, "-", stdin=path.read_bytes())
    assert text.returncode == 0, text.stderr
    lines = text.stdout.decode().splitlines()
    assert len(lines) == 4 and all(len(line.split("\t")) == 5 for line in lines)


def test_bad_lines_are_named_and_nothing_is_printed(tmp_path):
    bad = b'{"id": "a1", "lastName": "Smith", "emailAddresses": ["s@acme.com"]}\n'
    bad += b'{"id": "a2", "lastName": "Smith", "emailAddresses": ["s@acme.com"]}\n'
    bad += b"{not json\n[1, 2]\n" + b'{"id": "x", "phoneNumbers": 7}\n{"id": "a1"}\n\xff\n'
    out = run(tmp_path, "--json", "-", stdin=bad)
    assert out.returncode != 0
    assert out.stdout == b""  # no pair of a file that could not be read whole
    err = out.stderr.decode()
    assert "Traceback" not in err
    for expected in (
        "line 3: not valid JSON",
        "line 4: a contact must be a JSON object",
        "line 5: phoneNumbers must be a list of strings",
        "line 6: id 'a1' appears twice",
        "line 7: not UTF-8 text",
    ):
        assert expected in err, err
    missing = run(tmp_path, str(tmp_path / "nope.jsonl"))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr.decode()
