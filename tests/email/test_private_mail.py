"""Mail its sender marked private or confidential is not logged unless the organisation
allows it (`email.logPrivate`), on real workers, both backends (issue 19)."""

from __future__ import annotations

from tests.support.helpers import (
    crm_emails,
    crm_stats,
    make_org,
    make_user,
    person,
    seed_contacts,
    send,
    wait_decided,
)

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}


def test_private_mail_is_skipped_with_its_reason_until_log_private_allows_it(clean_stack):
    seed_contacts(clean_stack, DAVE)
    org_id = make_org(clean_stack)
    make_user(clean_stack, org_id, "alice@acme.com")
    make_user(clean_stack, org_id, "bob@acme.com")
    dave = person("dave@customer.com", "Dave Customer")
    private = send(
        clean_stack,
        dave,
        ["alice@acme.com"],
        "Personal",
        cc=["bob@acme.com"],
        sensitivity="private",
    )["internetMessageId"]
    secret = send(clean_stack, dave, ["alice@acme.com"], "Secret", sensitivity="confidential")[
        "internetMessageId"
    ]
    normal = send(clean_stack, dave, ["alice@acme.com"], "Quote", sensitivity="normal")[
        "internetMessageId"
    ]

    for msg_id in (private, secret):
        d = wait_decided(clean_stack, org_id, msg_id, "skipped")
        assert d["reason"] == "private" and "private" in d["rule"]
        why = clean_stack.admin(
            "GET", f"/api/v1/orgs/{org_id}/why/email", params={"key": msg_id}
        ).json()
        assert why["state"] == "skipped" and why["reason"] == "private"
        assert crm_emails(clean_stack, msg_id) == []
    wait_decided(clean_stack, org_id, normal)
    assert crm_stats(clean_stack)["byOperation"].get("emails.create", 0) == 1

    # The organisation allows private mail: the next one is logged like any other.
    r = clean_stack.admin(
        "PATCH", f"/api/v1/orgs/{org_id}", json={"settings": {"email": {"logPrivate": True}}}
    )
    assert r.status_code == 200, r.text
    later = send(clean_stack, dave, ["alice@acme.com"], "Private, allowed", sensitivity="private")
    wait_decided(clean_stack, org_id, later["internetMessageId"])
    assert len(crm_emails(clean_stack, later["internetMessageId"])) == 1
