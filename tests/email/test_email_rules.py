import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brightsync.crm.settings import effective_settings
from brightsync.email.message import (
    header,
    is_bulk,
    message_key,
    normalize_message_id,
    sensitivity_of,
)
from brightsync.email.rules import (
    DEFAULT_MAX_PARTICIPANTS,
    MAILBOX_LOCAL_REASONS,
    PARTIAL_VIEW_REASONS,
    Decision,
    EmailPolicy,
    Participant,
    classify,
    creation_candidates,
)

ORG = ["acme.com"]


def addr(address, name=""):
    return {"name": name, "address": address}


def make_msg(**overrides):
    msg = {
        "id": "m1",
        "threadId": "th1",
        "internetMessageId": "<CAF123abc@mail.gmail.com>",
        "subject": "Proposal",
        "sysLabels": ["inbox"],
        "from": addr("jane@customer.io", "Jane Doe"),
        "to": [addr("bob@acme.com", "Bob")],
        "cc": [],
        "bcc": [],
        "sentAt": "2024-05-01T10:00:00Z",
        "receivedAt": "2024-05-01T10:00:02Z",
        "internetHeaders": [],
    }
    msg.update(overrides)
    return msg


def policy(**email):
    return EmailPolicy.from_settings({"email": email}, ORG)


def test_policy_defaults_follow_interfaces_md():
    p = EmailPolicy.from_settings({}, ["Acme.com"])
    assert p.org_domains == ("acme.com",)
    assert p.log_internal is False
    assert p.contact_creation == "none"
    assert p.create_companies is True
    assert p.exclude_domains == () and p.exclude_addresses == frozenset()
    assert p.skip_bulk is True
    assert p.max_participants == DEFAULT_MAX_PARTICIPANTS


def test_policy_reads_email_section_or_bare_dict_and_tolerates_bad_values():
    full = EmailPolicy.from_settings(
        {
            "email": {
                "logInternal": True,
                "contactCreation": "SENT",
                "createCompanies": "false",
                "excludeDomains": ["Law.com"],
                "excludeAddresses": ["X <ceo@y.com>", 3],
                "skipBulk": False,
            }
        },
        ORG,
    )
    assert full.log_internal and not full.create_companies and not full.skip_bulk
    assert full.contact_creation == "sent"
    assert full.exclude_domains == ("law.com",)
    assert full.exclude_addresses == frozenset({"ceo@y.com"})
    bare = EmailPolicy.from_settings({"contactCreation": "all"}, ORG)
    assert bare.contact_creation == "all"
    odd = EmailPolicy.from_settings(
        {"email": {"contactCreation": "sometimes", "logInternal": []}}, None
    )
    assert odd.contact_creation == "none" and odd.log_internal is False and odd.org_domains == ()
    assert EmailPolicy.from_settings(None, None) == EmailPolicy()


def test_header_is_case_insensitive_and_tolerant():
    msg = {
        "internetHeaders": [
            None,
            {"name": 1},
            {"name": "X-Test", "value": "a"},
            {"name": "x-test", "value": "b"},
        ]
    }
    assert header(msg, "X-TEST") == "a"
    assert header(msg, "missing") is None
    assert header({"internetHeaders": "junk"}, "x") is None
    assert header(None, "x") is None


def test_normalize_message_id_lowercases_only_the_domain():
    assert normalize_message_id(" <CAF123abc@Mail.Gmail.COM> ") == "CAF123abc@mail.gmail.com"
    assert normalize_message_id("CAF123abc@mail.gmail.com") == "CAF123abc@mail.gmail.com"
    assert normalize_message_id("<a@x> <b@y>") == "a@x"
    assert normalize_message_id("<no-at-sign>") == "no-at-sign"
    for bad in [None, "", "<>", "<a b@x>", "@x", "a@", "<" + "a" * 2000 + "@x>", 12]:
        assert normalize_message_id(bad) is None, bad


@given(st.text(max_size=200))
def test_normalize_message_id_is_idempotent(raw):
    once = normalize_message_id(raw)
    if once is not None:
        assert normalize_message_id(once) == once
        assert normalize_message_id(f"<{once}>") == once
        assert once.strip() == once and "<" not in once


def test_message_key_prefers_message_id():
    assert message_key(make_msg()) == "CAF123abc@mail.gmail.com"
    headers = [{"name": "Message-ID", "value": "<h1@X.org>"}]
    assert message_key(make_msg(internetMessageId=None, internetHeaders=headers)) == "h1@x.org"


def test_message_key_digest_is_stable_across_mailbox_copies():
    a = make_msg(
        internetMessageId=None,
        id="a",
        receivedAt="2024-05-01T10:00:02Z",
        to=[addr("bob@acme.com"), addr("zed@acme.com")],
        bcc=[addr("me@acme.com")],
    )
    b = make_msg(
        internetMessageId="",
        id="b",
        receivedAt="2024-05-01T10:09:00Z",
        sentAt="2024-05-01T10:00:00+00:00",
        to=[addr("ZED@acme.com"), addr("bob@acme.com")],
    )
    assert message_key(a).startswith("digest:")
    assert message_key(a) == message_key(b)
    assert message_key(a) != message_key({**a, "subject": "Other"})


def test_message_key_survives_lone_surrogates_and_empty_messages():
    assert message_key(make_msg(internetMessageId=None, subject="bad \ud800")).startswith("digest:")
    assert message_key({"id": "x"}) != message_key({"id": "y"})
    assert message_key(None) == ""


def test_received_external_message_is_logged_with_external_participants():
    d = classify(make_msg(cc=[addr("Carl@Customer.io", "Carl")]), policy())
    assert isinstance(d, Decision)
    assert (d.action, d.reason, d.direction) == ("log", "external", "received")
    assert d.should_log
    assert d.key == "CAF123abc@mail.gmail.com"
    assert d.sender == Participant("jane@customer.io", "Jane Doe", "from")
    assert [(p.address, p.role) for p in d.external] == [
        ("jane@customer.io", "from"),
        ("carl@customer.io", "cc"),
    ]
    assert d.internal == ("bob@acme.com",)


def test_direction_is_judged_against_org_domains():
    sent = classify(
        make_msg(
            **{"from": addr("bob@eu.acme.com"), "to": [addr("jane@x.io")], "sysLabels": ["inbox"]}
        ),
        policy(),
    )
    assert sent.direction == "sent"
    received = classify(make_msg(sysLabels=["sent"]), policy())
    assert received.direction == "received"
    no_domains = classify(make_msg(sysLabels=["sent"]), EmailPolicy.from_settings({}, []))
    assert no_domains.direction == "sent"


def test_bcc_counts_only_on_sent_mail():
    sent = classify(
        make_msg(
            **{
                "from": addr("bob@acme.com"),
                "to": [addr("jane@x.io")],
                "bcc": [addr("secret@y.io")],
            }
        ),
        policy(),
    )
    assert ("secret@y.io", "bcc") in [(p.address, p.role) for p in sent.external]
    received = classify(make_msg(bcc=[addr("secret@y.io")]), policy())
    assert "secret@y.io" not in [p.address for p in received.external]


@pytest.mark.parametrize(
    ("labels", "reason"),
    [(["draft"], "draft"), (["INBOX", "Junk"], "junk"), (["trash"], "trash"), ("spam", "junk")],
)
def test_folder_labels_are_skipped(labels, reason):
    d = classify(make_msg(sysLabels=labels), policy())
    assert (d.action, d.reason) == ("skip", reason)


@pytest.mark.parametrize("method", ["request", "reply", "Cancel", "counter"])
def test_meeting_messages_belong_to_calendar_sync(method):
    d = classify(make_msg(meetingMessageMethod=method), policy())
    assert (d.action, d.reason) == ("skip", "meeting")


def test_meeting_method_other_is_regular_mail():
    assert classify(make_msg(meetingMessageMethod="other"), policy()).action == "log"


@pytest.mark.parametrize(
    "headers",
    [
        [{"name": "List-Unsubscribe", "value": "<mailto:u@x.io>"}],
        [{"name": "list-id", "value": "<news.x.io>"}],
        [{"name": "Precedence", "value": " Bulk "}],
        [{"name": "Precedence", "value": "junk"}],
        [{"name": "Auto-Submitted", "value": "auto-generated"}],
        [{"name": "Auto-Submitted", "value": "auto-replied; owner-email=a@b.c"}],
    ],
)
def test_bulk_mail_is_skipped_when_skip_bulk(headers):
    msg = make_msg(internetHeaders=headers)
    assert is_bulk(msg)
    assert classify(msg, policy()).reason == "bulk"
    assert classify(msg, policy(skipBulk=False)).action == "log"


def test_not_bulk_headers():
    msg = make_msg(
        internetHeaders=[
            {"name": "Auto-Submitted", "value": "no"},
            {"name": "Precedence", "value": "first-class"},
        ]
    )
    assert not is_bulk(msg)
    assert classify(msg, policy()).action == "log"


def test_exclusions_by_address_and_domain_with_subdomains():
    assert classify(make_msg(), policy(excludeAddresses=["JANE@customer.io"])).reason == "excluded"
    assert classify(make_msg(), policy(excludeDomains=["customer.io"])).reason == "excluded"
    msg = make_msg(cc=[addr("x@legal.firm.com")])
    assert classify(msg, policy(excludeDomains=["firm.com"])).reason == "excluded"
    assert classify(msg, policy(excludeDomains=["otherfirm.com"])).action == "log"


def test_internal_mail_skipped_unless_log_internal():
    msg = make_msg(**{"from": addr("bob@acme.com"), "to": [addr("amy@eu.acme.com")]})
    skipped = classify(msg, policy())
    assert (skipped.action, skipped.reason, skipped.direction) == ("skip", "internal", "internal")
    logged = classify(msg, policy(logInternal=True))
    assert (logged.action, logged.reason, logged.direction) == ("log", "log_internal", "internal")
    assert logged.external == ()
    assert set(logged.internal) == {"bob@acme.com", "amy@eu.acme.com"}


def test_messages_without_participants_or_ids_are_recorded():
    d = classify({"id": None, "subject": "?"}, policy())
    assert (d.action, d.reason) == ("skip", "no_participants")
    assert "no_message_id" in d.notes and "no_provider_id" in d.notes
    assert d.key.startswith("digest:")
    bad = classify(make_msg(to=[addr("not an address"), {"address": 5}, "x"]), policy())
    assert bad.action == "log" and "invalid_addresses=3" in bad.notes


@pytest.mark.parametrize("msg", [None, "string", 12, ["a"]])
def test_non_dict_messages_are_malformed(msg):
    d = classify(msg, policy())
    assert (d.action, d.reason) == ("skip", "malformed")


def test_odd_shapes_are_tolerated():
    d = classify(
        make_msg(
            **{
                "from": "Jane <jane@customer.io>",
                "to": "a@x.io, B <b@y.io>",
                "cc": {"address": "c@z.io"},
                "sysLabels": None,
            }
        ),
        policy(),
    )
    assert d.action == "log"
    assert {p.address for p in d.external} == {"jane@customer.io", "a@x.io", "b@y.io", "c@z.io"}
    fallback = classify(
        make_msg(
            **{
                "from": None,
                "internetHeaders": [{"name": "From", "value": "Jane <jane@customer.io>"}],
            }
        ),
        policy(),
    )
    assert fallback.sender is not None and fallback.sender.address == "jane@customer.io"


def test_thousands_of_recipients_are_bounded_and_recorded():
    to = [addr(f"user{i}@customer{i % 7}.io") for i in range(6000)]
    d = classify(make_msg(to=to), policy())
    assert d.action == "log"
    assert d.truncated
    assert len(d.external) == DEFAULT_MAX_PARTICIPANTS
    assert "participants_truncated" in d.notes and "recipients_over_scan_limit" in d.notes


def test_exclusion_sees_past_the_kept_participants():
    to = [addr(f"user{i}@customer.io") for i in range(1000)] + [addr("x@secret.org")]
    assert classify(make_msg(to=to), policy(excludeDomains=["secret.org"])).reason == "excluded"


def test_huge_header_block_is_bounded():
    headers = [{"name": f"X-H{i}", "value": "v" * 100} for i in range(50000)]
    headers.append({"name": "List-Id", "value": "<late.list>"})  # beyond the scan limit
    d = classify(make_msg(internetHeaders=headers), policy())
    assert d.action == "log"


def test_creation_candidates_sent_mode():
    msg = make_msg(
        **{
            "from": addr("bob@acme.com", "Bob"),
            "to": [
                addr("jane@customer.io", "Jane"),
                addr("noreply@customer.io"),
                addr("amy@acme.com"),
                addr("all@customer.io"),
                addr("temp@mailinator.com"),
            ],
            "cc": [addr("carl@other.io")],
        }
    )
    d = classify(msg, policy(contactCreation="sent"))
    got = creation_candidates(d, policy(contactCreation="sent"))
    assert [p.address for p in got] == ["jane@customer.io", "carl@other.io"]
    # Received mail creates nobody in 'sent' mode.
    received = classify(make_msg(), policy(contactCreation="sent"))
    assert creation_candidates(received, policy(contactCreation="sent")) == ()


def test_creation_candidates_all_mode_and_none_mode():
    msg = make_msg(cc=[addr("carl@other.io"), addr("mailer-daemon@other.io")])
    d = classify(msg, policy())
    got = creation_candidates(d, policy(contactCreation="all"))
    assert [p.address for p in got] == ["jane@customer.io", "carl@other.io"]
    assert creation_candidates(d, policy()) == ()
    skipped = classify(make_msg(sysLabels=["draft"]), policy())
    assert creation_candidates(skipped, policy(contactCreation="all")) == ()


def test_creation_candidates_skip_lists_named_by_headers():
    msg = make_msg(
        cc=[addr("builders@other.io")],
        internetHeaders=[{"name": "List-Post", "value": "<mailto:builders@other.io>"}],
    )
    p = policy(contactCreation="all", skipBulk=False)
    d = classify(msg, p)
    assert "builders@other.io" in d.group_addresses
    assert [c.address for c in creation_candidates(d, p)] == ["jane@customer.io"]


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
address_like = st.one_of(
    json_value,
    st.builds(addr, st.one_of(st.emails(), st.text(max_size=30)), st.text(max_size=20)),
)
fields = {
    "id": json_value,
    "threadId": json_value,
    "internetMessageId": json_value,
    "subject": json_value,
    "sysLabels": st.one_of(
        json_value,
        st.lists(st.sampled_from(["inbox", "sent", "draft", "junk", "trash", "x"]), max_size=3),
    ),
    "meetingMessageMethod": json_value,
    "from": address_like,
    "to": st.one_of(address_like, st.lists(address_like, max_size=5)),
    "cc": st.one_of(address_like, st.lists(address_like, max_size=5)),
    "bcc": st.one_of(address_like, st.lists(address_like, max_size=5)),
    "replyTo": json_value,
    "sentAt": json_value,
    "receivedAt": json_value,
    "inReplyTo": json_value,
    "references": json_value,
    "internetHeaders": st.one_of(
        json_value,
        st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.one_of(
                        st.sampled_from(
                            ["List-Id", "Precedence", "Auto-Submitted", "From", "Message-ID"]
                        ),
                        json_value,
                    ),
                    "value": json_value,
                }
            ),
            max_size=4,
        ),
    ),
    "body": json_value,
    "omitted": json_value,
    "attachments": json_value,
}
message_strategy = st.fixed_dictionaries({}, optional=fields)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(message_strategy, st.sampled_from(["none", "sent", "all"]), st.booleans())
def test_classify_never_raises_on_arbitrary_messages(msg, mode, log_internal):
    p = EmailPolicy.from_settings(
        {"email": {"contactCreation": mode, "logInternal": log_internal}}, ORG
    )
    d = classify(msg, p)
    assert d.action in ("log", "skip")
    assert d.direction in ("sent", "received", "internal")
    assert isinstance(d.key, str) and d.key
    assert d.reason != "malformed"  # dict-shaped input is always understood
    assert len(d.external) <= p.max_participants
    for c in creation_candidates(d, p):
        assert c in d.external and not p.is_internal(c.address)


@pytest.mark.parametrize("sensitivity", ["private", "confidential", "personal", " Private "])
def test_private_mail_is_skipped_for_the_org_unless_log_private(sensitivity):
    msg = make_msg(sensitivity=sensitivity)
    skipped = classify(msg, EmailPolicy(org_domains=("acme.com",)))
    assert (skipped.action, skipped.reason) == ("skip", "private")
    assert skipped.reason not in MAILBOX_LOCAL_REASONS | PARTIAL_VIEW_REASONS  # org-wide
    allowed = EmailPolicy.from_settings({"email": {"logPrivate": True}}, ORG)
    assert classify(msg, allowed).reason == "external"


@pytest.mark.parametrize("sensitivity", [None, "normal", "", "weird", 3])
def test_normal_or_unreadable_sensitivity_is_logged(sensitivity):
    decision = classify(make_msg(sensitivity=sensitivity), EmailPolicy(org_domains=("acme.com",)))
    assert decision.reason == "external"


def test_sensitivity_header_counts_when_the_field_is_missing():
    headers = [{"name": "Sensitivity", "value": "Company-Confidential"}]
    msg = make_msg(internetHeaders=headers)
    assert sensitivity_of(msg) == "confidential"
    assert classify(msg, EmailPolicy(org_domains=("acme.com",))).reason == "private"
    # The field wins over the header.
    assert sensitivity_of(make_msg(internetHeaders=headers, sensitivity="normal")) == "normal"


def test_log_private_defaults_off_and_reads_like_other_flags():
    assert EmailPolicy.from_settings({}, ORG).log_private is False
    assert EmailPolicy.from_settings({"email": {"logPrivate": "yes"}}, ORG).log_private is True
    assert EmailPolicy.from_settings(effective_settings({}), ORG).log_private is False


def test_private_skip_comes_after_mailbox_local_ones():
    # A private draft is still a mailbox-local skip: it says nothing for the organisation.
    msg = make_msg(sensitivity="private", sysLabels=["draft"])
    assert classify(msg, EmailPolicy(org_domains=("acme.com",))).reason == "draft"
