import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from brightsync.connector.schemas import EmailSchema
from brightsync.email.content import (
    MAX_RECIPIENTS,
    MAX_TEXT_CHARS,
    attachment_metadata,
    body_omitted,
    build_crm_email,
    html_to_text,
    looks_like_html,
    text_and_html,
)

# Every field of the published connector contract's Email, except the CRM's own id.
CONTRACT_FIELDS = set(EmailSchema().fields) - {"id"}


def test_html_to_text_keeps_text_drops_markup_and_scripts():
    html = (
        "<html><head><style>p{color:red}</style></head><body><p>Hello&nbsp;Jane,</p>"
        "<script>alert(1)</script><p>See <a href='https://x.io'>link</a></p></body></html>"
    )
    text = html_to_text(html)
    assert "Hello" in text and "Jane," in text and "See link" in text
    assert "alert" not in text and "color" not in text and "<" not in text


def test_html_to_text_garbage_and_empty():
    assert html_to_text(None) == ""
    assert html_to_text("   ") == ""
    assert html_to_text("\x00\x01<p>x</p>") == "x"
    assert isinstance(html_to_text("<<<>>><!--"), str)
    assert html_to_text("<p>lone \ud800 surrogate</p>").startswith("lone")


def test_html_to_text_drops_inline_data_and_survives_absurd_nesting():
    html = '<p>hi<img src="data:image/png;base64,' + "A" * 3_000_000 + '"> there</p>'
    assert html_to_text(html) == "hi there"
    assert html_to_text("<div>" * 100_000 + "deep" + "</div>" * 100_000) == "deep"


def test_html_to_text_caps_huge_input():
    huge = "<p>" + "word " * 600_000 + "</p>"
    text = html_to_text(huge)
    assert text.startswith("word") and len(text) <= MAX_TEXT_CHARS


def test_looks_like_html():
    assert looks_like_html("<div>Hi</div>")
    assert looks_like_html("<!DOCTYPE html><html>")
    assert looks_like_html("Hi<br/>there")
    assert not looks_like_html("a < b and c > d")
    assert not looks_like_html("Reply to <jane@x.io>")
    assert not looks_like_html(None)


def test_text_and_html():
    html = "<p>Hi <b>there</b></p>"
    assert text_and_html({"body": html}) == ("Hi there", html)
    assert text_and_html({"body": " plain text\n"}) == ("plain text", None)
    assert text_and_html({"body": None}) == ("", None)
    assert text_and_html("not a message") == ("", None)


def test_body_omitted():
    assert body_omitted({"omitted": ["body"], "body": None})
    assert body_omitted({"omitted": ["Body"], "body": ""})
    assert body_omitted({})
    assert not body_omitted({"body": "x", "omitted": ["attachments"]})
    assert body_omitted(None)


def test_attachment_metadata_keeps_content_only_under_cap():
    small = base64.b64encode(b"x" * 10).decode()
    big = base64.b64encode(b"y" * 5000).decode()
    items = [
        {
            "id": "1",
            "name": "a.txt",
            "mimeType": "text/plain",
            "size": 10,
            "inline": False,
            "contentId": None,
            "content": small,
        },
        {
            "id": "2",
            "name": "b.bin",
            "mimeType": "application/octet-stream",
            "size": 5000,
            "content": big,
        },
        {"id": "3", "name": "=?utf-8?q?r=C3=A9sum=C3=A9.pdf?=", "content": small},  # no size
        "junk",
        {"name": "logo.png", "inline": True, "contentId": "logo@x", "size": -1},
    ]
    meta = attachment_metadata(items, content_cap_bytes=1024)
    assert [m["name"] for m in meta] == ["a.txt", "b.bin", "résumé.pdf", "logo.png"]
    assert meta[0] == {
        "name": "a.txt",
        "mimeType": "text/plain",
        "size": 10,
        "inline": False,
        "contentId": None,
        "content": small,
    }
    assert "content" not in meta[1] and meta[1]["size"] == 5000
    assert meta[2]["size"] == 10 and meta[2]["content"] == small
    assert meta[3]["inline"] is True and meta[3]["size"] is None and "content" not in meta[3]
    assert attachment_metadata(None, 10) == []
    assert attachment_metadata("x", 10) == []


def test_build_crm_email_has_every_contract_field():
    msg = {
        "id": "AAMk1",
        "internetMessageId": "<CAF123@Mail.Gmail.com>",
        "inReplyTo": "<Parent@X.COM>",
        "subject": "=?utf-8?q?Caf=C3=A9?= plans",
        "from": {"name": "Jane Doe", "address": "Jane@Customer.io"},
        "to": [{"name": "Bob", "address": "bob@acme.com"}, {"address": "bad"}],
        "cc": None,
        "receivedAt": "2024-05-01T10:00:02Z",
    }
    payload = build_crm_email(
        msg,
        thread_id="t1",
        related_to={"contacts": ["c1"]},
        text_body="hi",
        html_body=None,
        attachments=[{"name": "a"}],
    )
    assert set(payload) == CONTRACT_FIELDS
    assert payload["msgId"] == "AAMk1"
    assert payload["syncThreadId"] == "t1"
    assert payload["rfc822MsgId"] == "<CAF123@mail.gmail.com>"
    assert payload["inReplyTo"] == "<Parent@x.com>"
    assert payload["subject"] == "Café plans"
    assert (payload["fromAddress"], payload["fromName"]) == ("jane@customer.io", "Jane Doe")
    assert payload["toAddresses"] == ["bob@acme.com"]
    assert payload["ccAddresses"] == [] and payload["bccAddresses"] == []
    assert payload["relatedTo"] == {"contacts": ["c1"], "companies": [], "opportunities": []}
    assert payload["attachments"] == [{"name": "a"}]
    assert (payload["textBody"], payload["htmlBody"]) == ("hi", None)


def test_build_crm_email_from_empty_message_and_many_recipients():
    payload = build_crm_email(
        {}, thread_id=None, related_to=None, text_body=None, html_body=None, attachments=None
    )
    assert set(payload) == CONTRACT_FIELDS
    assert payload["rfc822MsgId"] is None and payload["subject"] == ""
    assert payload["relatedTo"] == {"contacts": [], "companies": [], "opportunities": []}
    many = {
        "to": [{"address": f"u{i}@x.io"} for i in range(3000)],
        "receivedAt": None,
        "sentAt": "2024-01-01T00:00:00Z",
    }
    payload = build_crm_email(
        many, thread_id="t", related_to=None, text_body="", html_body="", attachments=[]
    )
    assert len(payload["toAddresses"]) == MAX_RECIPIENTS
    assert payload["receivedAt"] == "2024-01-01T00:00:00Z"


def test_build_crm_email_output_is_always_encodable():
    msg = {
        "subject": "bad \ud800 subject",
        "id": True,
        "from": {"name": "Eve \udc00", "address": "eve@x.io"},
    }
    payload = build_crm_email(
        msg,
        thread_id="t",
        related_to={"contacts": "c1"},
        text_body="",
        html_body=None,
        attachments=None,
    )
    assert payload["subject"].encode("utf-8")
    assert payload["fromName"] == "Eve"
    assert payload["msgId"] is None
    assert payload["relatedTo"]["contacts"] == []


@settings(max_examples=150)
@given(st.text(max_size=2000))
def test_html_to_text_never_raises(text):
    assert isinstance(html_to_text(text), str)
    assert isinstance(html_to_text("<div>" + text + "</div>"), str)
