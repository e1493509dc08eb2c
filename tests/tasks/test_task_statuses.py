"""Task statuses out of the box: common CRM vocabularies read without a map (case, spaces and
underscores ignored), `completedAt` wins, and writes send the CRM's own word."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brightsync.tasks import rules

SALESFORCE = {
    "Not Started": "notStarted",
    "In Progress": "inProgress",
    "Completed": "completed",
    "Deferred": "deferred",
    "Waiting on someone else": "waitingOnOthers",
}
HUBSPOT = {
    "NOT_STARTED": "notStarted",
    "IN_PROGRESS": "inProgress",
    "WAITING": "waitingOnOthers",
    "COMPLETED": "completed",
    "DEFERRED": "deferred",
}
UTC = rules.zone("UTC")


@pytest.mark.parametrize("word, mailbox", [*SALESFORCE.items(), *HUBSPOT.items()])
def test_common_vocabularies_read_without_a_map(word, mailbox):
    assert rules.StatusMap().mailbox(word) == mailbox


@st.composite
def spelled(draw, word: str) -> str:
    """`word` with each letter's case and each gap (space) respelled."""
    out = []
    for ch in word:
        if ch == " ":
            out.append(draw(st.sampled_from([" ", "_", "", "  ", " _ ", "-"])))
        else:
            out.append(ch.upper() if draw(st.booleans()) else ch.lower())
    pad = st.sampled_from(["", " ", "_"])
    return draw(pad) + "".join(out) + draw(pad)


@given(st.sampled_from(sorted(SALESFORCE)).flatmap(lambda w: st.tuples(st.just(w), spelled(w))))
def test_case_space_and_underscore_do_not_matter(pair):
    word, variant = pair
    assert rules.StatusMap().mailbox(variant) == SALESFORCE[word]


@given(spelled("on hold"))
def test_the_orgs_map_is_compared_loosely_too(variant):
    assert rules.StatusMap({"On Hold": "deferred"}).mailbox(variant) == "deferred"


@given(st.sampled_from([*SALESFORCE, *HUBSPOT, "anything", None]))
def test_completed_at_means_completed_whatever_the_status(word):
    statuses = rules.StatusMap()
    task = {"subject": "t", "status": word, "completedAt": "2026-11-01T10:00:00Z"}
    fields = rules.from_crm(task, statuses, UTC)
    assert fields["status"] == "completed"
    assert fields["completed"] == "2026-11-01T10:00:00Z"


def test_an_unknown_word_reads_not_started_and_is_never_learned():
    statuses = rules.StatusMap()
    assert statuses.mailbox("Blocked") == "notStarted"
    assert not statuses.learn("Blocked")
    assert statuses.crm("notStarted") == "notStarted"  # knowing nothing: the contract's word


@pytest.mark.parametrize("name", sorted(rules.VOCABULARIES))
def test_a_status_never_seen_is_written_in_the_vocabulary_of_the_seen_ones(name):
    words = rules.VOCABULARIES[name]
    statuses = rules.StatusMap()
    assert statuses.learn(words["notStarted"])
    for mailbox in rules.MAILBOX_STATUSES:
        assert statuses.crm(mailbox) == words[mailbox] != mailbox


def test_writes_send_the_last_word_seen_then_the_orgs_map_then_the_vocabulary_word():
    statuses = rules.StatusMap({"Done": "completed"})
    assert statuses.crm("completed") == "Done"  # the org's map
    assert statuses.learn("COMPLETED")
    assert statuses.crm("completed") == "COMPLETED"  # seen beats the map
    assert not statuses.learn("COMPLETED")  # no news
    assert statuses.learn("Done") and statuses.crm("completed") == "Done"  # the last one seen
    assert statuses.learn("In Progress") and statuses.crm("inProgress") == "In Progress"
    assert statuses.crm("deferred") == "Deferred"  # the vocabulary "In Progress" is from


def test_remembered_words_come_back_and_nonsense_is_dropped():
    statuses = rules.StatusMap(seen={"completed": "COMPLETED", "bogus": "x", "deferred": ""})
    assert statuses.crm("completed") == "COMPLETED"
    assert statuses.seen == {"completed": "COMPLETED"}


def test_a_status_in_progress_with_completed_at_teaches_in_progress_not_completed():
    statuses = rules.StatusMap()
    statuses.learn("In Progress")
    assert statuses.seen == {"inProgress": "In Progress"}


@given(st.sampled_from(sorted(HUBSPOT)))
def test_a_hubspot_round_trip_writes_hubspot_words(word):
    statuses = rules.StatusMap()
    mailbox = rules.from_crm({"status": word}, statuses, UTC)["status"]
    statuses.learn(word)
    assert rules.to_crm({"status": mailbox}, statuses, UTC)["status"] == word
