"""Which attachment files a logged email carries and how each is described (pure)."""

from __future__ import annotations

from brightsync.email.files import (
    dump_keys,
    entry,
    file_settings,
    load_keys,
    plan_files,
    same_file,
)

PDF = {"id": "a1", "name": "proposal.pdf", "mimeType": "application/pdf", "size": 300_000}
LOGO = {"id": "a2", "name": "logo.png", "inline": True, "contentId": "logo@x", "size": 900}


def test_inline_images_are_not_files_and_files_keep_their_order():
    files = plan_files([LOGO, PDF, {**PDF, "id": "a3", "name": "b.pdf"}], "files", 10**7)
    assert [(f.ordinal, f.name, f.send) for f in files] == [
        (0, "proposal.pdf", True),
        (1, "b.pdf", True),
    ]
    assert files[0].key == "0:proposal.pdf:300000"
    # An inline part without a Content-ID is not an image of the body: it is a file.
    assert plan_files([{**LOGO, "contentId": None}], "files", 10**7)[0].send


def test_settings_decide_what_is_sent():
    assert plan_files([PDF], "none", 10**7) == []
    (meta,) = plan_files([PDF], "metadata", 10**7)
    assert not meta.send and "email.attachments" in meta.reason
    (big,) = plan_files([PDF], "files", 100 * 1024)
    assert not big.send and big.reason == "larger than 100 KiB (email.attachmentMaxBytes)"
    (no_id,) = plan_files([{**PDF, "id": None}], "files", 10**7)
    assert not no_id.send and "no attachment id" in no_id.reason
    assert file_settings({}) == ("files", 10 * 1024 * 1024)
    assert file_settings({"email": {"attachments": "metadata", "attachmentMaxBytes": 5}}) == (
        "metadata",
        5,
    )


def test_odd_input_never_raises():
    assert plan_files(None, "files", 1) == []
    assert plan_files("x", "files", 1) == []
    (f,) = plan_files([{"id": 7, "size": -1, "name": 3}, "junk"], "files", 1)
    assert (f.name, f.size, f.content_type, f.send) == (
        "attachment",
        None,
        "application/octet-stream",
        True,
    )


def test_entries_and_the_look_before_resending():
    (f,) = plan_files([PDF], "files", 10**7)
    sent = entry(f, content="QQ==", size=1)
    assert sent == {
        "name": "proposal.pdf",
        "contentType": "application/pdf",
        "mimeType": "application/pdf",
        "size": 1,
        "missing": False,
        "reason": None,
        "content": "QQ==",
    }
    assert entry(f, missing=True, reason="later")["missing"] is True
    assert same_file({"name": "proposal.pdf", "size": 300_000, "missing": False}, f)
    assert not same_file({"name": "proposal.pdf", "size": 300_000, "missing": True}, f)
    assert not same_file({"name": "proposal.pdf", "size": 1}, f)
    assert load_keys(dump_keys(["b", "a", "a"])) == {"a", "b"}
    assert dump_keys([]) is None and load_keys("not json") == set()
