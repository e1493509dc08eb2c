"""The email page plan (pure): what a page of a mailbox's delta asks for, and what the claims'
answers mean, with plain values only."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from brightsync.email import plan
from brightsync.email.claims import WAITING, ClaimResult
from brightsync.email.rules import EmailPolicy

POLICY = EmailPolicy.from_settings({"contactCreation": "sent"}, ["acme.com"])
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WAIT = timedelta(minutes=3)


def a(address: str) -> dict[str, str]:
    return {"address": address, "name": ""}


def message(i: int = 1, sender: str = "dave@customer.com", to=("ann@acme.com",), **extra) -> dict:
    return {
        "id": f"p{i}",
        "internetMessageId": f"<m{i}@x.com>",
        "subject": f"Hello {i}",
        "from": a(sender),
        "to": [a(x) for x in to],
        **extra,
    }


def test_a_page_plans_one_step_per_message_in_order():
    page = plan.plan_page(
        [
            message(1),
            "not a dict",
            {"subject": "no id"},
            message(2, sysLabels=["trash"]),
            message(3, sysLabels=["drafts"]),
            message(4, sender="ann@acme.com", to=("bob@acme.com",)),  # internal only
        ],
        POLICY,
    )
    kinds = [type(s).__name__ for s in page.steps]
    assert kinds == ["Claim", "Malformed", "Malformed", "Sighting", "Sighting", "Claim"]
    logged, _, _, trash, draft, internal = page.steps
    assert logged.state == "claimed" and logged.reason is None and logged.wait_until is None
    assert logged.subject == "Hello 1" and logged.provider_id == "p1"
    assert trash.reason == "trash" and trash.reveals
    assert not draft.reveals  # a draft's recipients are not final
    assert internal.state == "skipped" and internal.reason == "internal"
    assert page.counts == {
        "messages": 6,
        "malformed": 2,
        "skipped_trash": 1,
        "skipped_draft": 1,
    }


def test_a_colleague_copy_of_a_registered_senders_mail_waits_for_the_senders_copy():
    msg = message(1, sender="ann@acme.com", to=("bob@acme.com", "dave@customer.com"))
    [step] = plan.plan_page(
        [msg],
        POLICY,
        mailbox_address="bob@acme.com",
        registered={"ann@acme.com", "bob@acme.com"},
        wait=WAIT,
        now=NOW,
    ).steps
    assert step.state == WAITING and step.wait_until == NOW + WAIT
    assert step.reason == plan.WAITING_REASON
    # The sender's own copy does not wait; nor does anyone's without the sender registered.
    [own] = plan.plan_page(
        [{**msg, "sysLabels": ["sent"]}],
        POLICY,
        mailbox_address="ann@acme.com",
        registered={"ann@acme.com"},
        wait=WAIT,
        now=NOW,
    ).steps
    assert own.state == "claimed" and own.sender_copy
    [unregistered] = plan.plan_page([msg], POLICY, wait=WAIT, now=NOW).steps
    assert unregistered.state == "claimed"


def test_an_owned_claim_is_finished_a_joined_one_is_deduplicated():
    [step] = plan.plan_page([message(1)], POLICY).steps
    owned = ClaimResult(claim_id=7, owned=True, state="claimed", participants=step.participants)
    assert plan.route(step.decision, owned) == ("finish", None)
    joined = ClaimResult(claim_id=7, owned=False, state="claimed", participants=step.participants)
    assert plan.take_over(step, step.decision, joined) is None
    assert plan.route(step.decision, joined) == (None, "deduplicated")


def test_the_senders_copy_takes_a_waiting_claim_over_and_decides_on_everything_known():
    sent = message(1, sender="ann@acme.com", to=("bob@acme.com",), bcc=[a("dave@customer.com")]) | {
        "sysLabels": ["sent"]
    }
    [step] = plan.plan_page(
        [sent], POLICY, mailbox_address="ann@acme.com", registered={"ann@acme.com"}
    ).steps
    waiting = ClaimResult(
        claim_id=3,
        owned=False,
        state=WAITING,
        reason=plan.WAITING_REASON,
        participants=step.participants,
        revealed=frozenset({"dave@customer.com"}),
    )
    take = plan.take_over(step, step.decision, waiting)
    assert take == plan.TakeOver("claimed", None, "waited")


def test_participants_other_copies_showed_join_the_decision():
    # This copy shows only colleagues (internal: skipped); the claim knows a customer in Bcc.
    [step] = plan.plan_page([message(1, sender="ann@acme.com", to=("bob@acme.com",))], POLICY).steps
    assert step.state == "skipped" and step.reason == "internal"
    known = step.participants | {"dave@customer.com"}
    msg, decision = plan.redecide(step, known, POLICY)
    assert decision.should_log and [p.address for p in decision.external] == ["dave@customer.com"]
    assert [x["address"] for x in msg["bcc"]] == ["dave@customer.com"]
    # Nothing new known: the step's own decision stands.
    assert plan.redecide(step, step.participants, POLICY) == (step.msg, step.decision)
    skipped = ClaimResult(
        claim_id=1,
        owned=False,
        state="skipped",
        reason="internal",
        participants=known,
        revealed=frozenset({"ann@acme.com"}),
    )
    assert plan.take_over(step, decision, skipped) == plan.TakeOver("claimed", None, "reopened")


def test_routes_of_a_logged_claim_a_wait_and_an_unusable_copy():
    [step] = plan.plan_page([message(1)], POLICY).steps
    late = ClaimResult(1, owned=False, state="logged", revealed=frozenset({"x@y.com"}))
    assert plan.route(step.decision, late) == ("late", "deduplicated")
    wait = ClaimResult(1, owned=True, state=WAITING)
    assert plan.route(step.decision, wait) == ("wait", "waiting_for_sender_copy")
    assert plan.after_reveal(ClaimResult(1, owned=False, state=WAITING), sender_copy=True) == "end"
    assert plan.after_reveal(ClaimResult(1, owned=False, state=WAITING), sender_copy=False) is None
    assert plan.after_reveal(late, sender_copy=False) == "late"


def test_contacts_to_create_and_the_review_outcome():
    sent = message(1, sender="ann@acme.com", to=("dave@customer.com", "erin@client.com"))
    [step] = plan.plan_page([sent], POLICY).steps
    matched = {"dave@customer.com": {"id": "c1"}}
    create = plan.contacts_to_create(step.decision, POLICY, matched)
    assert [p.address for p in create] == ["erin@client.com"]
    assert plan.outcome(matched, create) == "log"
    assert plan.outcome({}, []) == "unmatched"


ADDRESSES = st.sampled_from(
    ["ann@acme.com", "bob@acme.com", "dave@customer.com", "erin@client.com", "bad", ""]
)
MESSAGES = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.fixed_dictionaries(
        {
            "id": st.one_of(st.none(), st.text(min_size=1, max_size=8)),
            "from": st.one_of(st.none(), ADDRESSES.map(a)),
            "to": st.lists(ADDRESSES.map(a), max_size=4),
            "sysLabels": st.lists(st.sampled_from(["inbox", "sent", "trash", "junk", "drafts"])),
        },
        optional={"internetMessageId": st.text(max_size=20), "subject": st.text(max_size=10)},
    ),
)


@given(st.lists(MESSAGES, max_size=12), st.booleans())
def test_every_message_gets_exactly_one_step_and_nothing_raises(records, registered):
    page = plan.plan_page(
        records,
        POLICY,
        mailbox_address="bob@acme.com",
        registered={"ann@acme.com"} if registered else set(),
        wait=WAIT,
        now=NOW,
    )
    assert len(page.steps) == len(records) == page.counts["messages"]
    assert page.counts["malformed"] == sum(isinstance(s, plan.Malformed) for s in page.steps)
    for step in page.steps:
        if isinstance(step, plan.Claim):
            # Only a copy that may decide for the organisation claims; waits carry their end.
            assert step.decision.key and step.provider_id
            assert (step.state == WAITING) == (step.wait_until is not None)
            assert step.state != "claimed" or step.decision.should_log
        elif isinstance(step, plan.Sighting):
            assert step.reason in ("draft", "junk", "trash")


def test_a_lead_is_logged_against_and_never_made_a_contact():
    """People no contact matched are asked about as leads; a lead is no creation candidate
    (a contact beside it would duplicate it) and makes the message loggable on its own."""
    sent = message(1, sender="ann@acme.com", to=("dave@customer.com", "lena@leadco.io"))
    [step] = plan.plan_page([sent], POLICY).steps
    assert plan.lead_lookups(step.decision, {}) == ["dave@customer.com", "lena@leadco.io"]
    matched = {"dave@customer.com": {"id": "c1"}}
    assert plan.lead_lookups(step.decision, matched) == ["lena@leadco.io"]
    leads = {"lena@leadco.io": {"id": "ld_1"}}
    assert plan.contacts_to_create(step.decision, POLICY, matched, leads) == []
    assert [p.address for p in plan.contacts_to_create(step.decision, POLICY, {}, leads)] == [
        "dave@customer.com"
    ]
    assert plan.outcome({}, [], leads) == "log"
    assert plan.outcome({}, [], {}) == "unmatched"
