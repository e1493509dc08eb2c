"""Attachment files of logged emails on real workers, both backends: fetched once per
organisation from the owner's copy, the exact bytes in the CRM, inline images left out, and a
file that could not be fetched logged as missing and completed later."""

from __future__ import annotations

import base64
import hashlib
import os

from tests.conftest import wait_for
from tests.support.helpers import (
    aurinko_stats,
    crm_emails,
    crm_stats,
    decision,
    make_org,
    make_user,
    person,
    seed_contacts,
    send,
    wait_decided,
    wait_idle,
)

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}
LOGO = b"\x89PNG\r\n\x1a\n" + b"logo" * 100


def _attachments(pdf: bytes) -> list[dict]:
    return [
        {
            "name": "proposal.pdf",
            "mimeType": "application/pdf",
            "content": base64.b64encode(pdf).decode(),
        },
        {
            "name": "logo.png",
            "mimeType": "image/png",
            "inline": True,
            "contentId": "logo@acme",
            "content": base64.b64encode(LOGO).decode(),
        },
    ]


def _file(stack, email: dict, name: str) -> tuple[dict, bytes]:
    (entry,) = [a for a in email["attachments"] if a["name"] == name]
    r = stack.crm("GET", f"/api/v1/emails/{email['id']}/attachments/{entry['id']}")
    r.raise_for_status()
    return entry, r.content


def test_a_proposal_sent_to_three_colleagues_is_one_email_with_the_pdf_bytes(clean_stack):
    seed_contacts(clean_stack, DAVE)
    org_id = make_org(clean_stack)
    users = [make_user(clean_stack, org_id, f"{n}@acme.com") for n in ("alice", "bob", "carol")]
    clean_stack.aurinko("POST", "/_control/stats/reset")
    pdf = b"%PDF-1.7\n" + os.urandom(300 * 1024)
    sent = send(
        clean_stack,
        person("dave@customer.com", "Dave Customer"),
        ["alice@acme.com"],
        "Proposal",
        cc=["bob@acme.com", "carol@acme.com"],
        body='<p>Our proposal</p><img src="cid:logo@acme">',
        body_type="html",
        attachments=_attachments(pdf),
    )
    msg_id = sent["internetMessageId"]
    wait_decided(clean_stack, org_id, msg_id)
    wait_idle(clean_stack, [u["id"] for u in users])
    wait_for(lambda: len(decision(clean_stack, org_id, msg_id)["seenBy"]) == 3, timeout=30)

    (email,) = crm_emails(clean_stack, msg_id)
    assert [a["name"] for a in email["attachments"]] == ["proposal.pdf"]  # not the logo
    entry, content = _file(clean_stack, email, "proposal.pdf")
    assert hashlib.sha256(content).hexdigest() == hashlib.sha256(pdf).hexdigest()
    assert entry["size"] == len(pdf) and entry["missing"] is False
    assert entry["contentType"] == "application/pdf"
    stats = aurinko_stats(clean_stack)
    assert stats["byOperation"].get("message.attachment") == 1  # once for the organisation
    assert stats["attachmentBytes"] == len(pdf)
    # The reference CRM offers uploads (OPTIONS/Allow): the file went as one upload.
    assert crm_stats(clean_stack)["byOperation"].get("emails.attach") == 1


def test_a_file_that_cannot_be_fetched_is_logged_missing_then_completed(clean_stack):
    seed_contacts(clean_stack, DAVE)
    # No uploads: the file travels inside the email, and the retry PATCHes the list.
    org_id = make_org(clean_stack, {"crm": {"capabilities": {"email_attachments": False}}})
    alice = make_user(clean_stack, org_id, "alice@acme.com", provider="google")
    clean_stack.aurinko("POST", "/_control/stats/reset")
    # Aurinko fails every attempt of the first download (google mail carries its body, so
    # the fetch is the first message call).
    clean_stack.aurinko(
        "POST",
        "/_control/faults",
        json={
            "pathPrefix": "/v1/email/messages/",
            "method": "GET",
            "status": 503,
            "count": 5,
            "retryAfter": 0,
        },
    ).raise_for_status()
    pdf = os.urandom(40 * 1024)
    sent = send(
        clean_stack,
        "dave@customer.com",
        ["alice@acme.com"],
        "Proposal",
        attachments=_attachments(pdf)[:1],
    )
    msg_id = sent["internetMessageId"]
    wait_decided(clean_stack, org_id, msg_id)  # logged at once, without waiting for the file

    def complete():
        (email,) = crm_emails(clean_stack, msg_id)
        return email if email["attachments"][0]["missing"] is False else None

    email = wait_for(complete, timeout=60, message="the missing file to be completed")
    entry, content = _file(clean_stack, email, "proposal.pdf")
    assert content == pdf and entry["size"] == len(pdf) and entry["reason"] is None
    wait_idle(clean_stack, [alice["id"]])
    stats = aurinko_stats(clean_stack)
    assert stats["byOperation"]["message.attachment"] == 6  # 5 refused, then one download
    assert stats["attachmentBytes"] == len(pdf)
    ops = crm_stats(clean_stack)["byOperation"]
    assert ops.get("emails.create") == 1 and ops.get("emails.update") == 1
    # The claim is settled by the task that sent the file, just after the CRM took it.
    wait_for(
        lambda: decision(clean_stack, org_id, msg_id)["reason"] is None,
        timeout=30,
        message="the claim's missing-file note to clear",
    )
