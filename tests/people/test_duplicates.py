from hypothesis import given, settings
from hypothesis import strategies as st

from brightsync.people import duplicate_index
from brightsync.people.addresses import mailbox_key
from brightsync.people.duplicate_index import find_duplicates
from brightsync.people.duplicate_samples import evaluate, generate
from brightsync.people.duplicates import (
    DUPLICATE_THRESHOLD,
    POSSIBLE_THRESHOLD,
    compare,
    match,
    score_pair,
)
from brightsync.people.person import InvalidContact, prepare
from brightsync.people.phones import normalize_phone


def person(cid, first="", last="", emails=(), phones=(), company=""):
    return {
        "id": cid,
        "firstName": first,
        "lastName": last,
        "emailAddresses": list(emails),
        "phoneNumbers": list(phones),
        "company": company,
    }


def test_mailbox_key_folds_only_what_the_provider_ignores():
    assert mailbox_key("J.Smith+news@googlemail.com") == "jsmith@gmail.com"
    assert mailbox_key("john+crm@outlook.com") == "john@outlook.com"
    # A company server may treat dots and '+' as part of the name: left alone.
    assert mailbox_key("j.smith+x@acme.com") == "j.smith+x@acme.com"
    assert mailbox_key("not an address") is None


def test_phone_numbers_are_e164_in_the_default_region():
    assert normalize_phone("(415) 555-0100") == "+14155550100"
    assert normalize_phone("+1 415.555.0100") == "+14155550100"
    assert normalize_phone("020 7946 0958", "GB") == "+442079460958"
    assert normalize_phone("0044 20 7946 0958") == "+442079460958"
    assert normalize_phone("415 555 0100 ext. 12") == "+14155550100;ext=12"
    assert normalize_phone("12") is None
    assert normalize_phone(None) is None


def test_shared_mailbox_is_a_duplicate_unless_names_conflict():
    a = person(1, "Robert", "Smith", ["robert.smith@gmail.com"])
    b = person(2, "Bob", "SMITH", ["Robert.Smith+crm@googlemail.com"])
    m = compare(a, b)
    assert m.decision == "duplicate" and m.score == 1.0
    assert "same email robertsmith@gmail.com" in m.reasons
    # A family inbox shared by two people: worth a look, never an automatic merge.
    family = compare(a, person(3, "Alice", "Smith", ["robert.smith@gmail.com"]))
    assert family.decision == "possible"


def test_similar_names_need_a_shared_fact():
    base = person(1, "José", "García", phones=["(415) 555-0100"], company="Acme Inc.")
    variants = {
        "swapped": person(2, "Garcia", "Jose", phones=["+1 415 555 0100"]),
        "initial": person(3, "J.", "Garcia", phones=["415.555.0100"]),
        "typo": person(4, "Jose", "Garica", company="ACME"),
        "accents": person(5, "JOSE", "GARCIA", phones=["+14155550100"]),
    }
    for how, other in variants.items():
        m = compare(base, other)
        assert m is not None and m.decision == "duplicate", (how, m)
        assert m.reasons
    # Nicknames come from the curated English list (Bill is William).
    william = person(7, "William", "Brown", ["wbrown@acme.com"], ["+44 20 7946 0958"])
    bill = compare(william, person(8, "Bill", "Brown", ["bill.b@gmail.com"], ["02079460958"]), "GB")
    assert bill.decision == "duplicate" and "nickname" in bill.reasons[-1]
    # The same name with nothing else in common: strangers with a common name.
    assert compare(base, person(6, "Jose", "Garcia", ["jg@globex.com"])) is None


def test_hard_negatives_stay_below_duplicate():
    john = person(1, "John", "Smith", ["john.smith@acme.com"], ["415 555 0100"], "Acme")
    # A colleague with the same family name and the switchboard number.
    assert (
        compare(john, person(2, "Jane", "Smith", ["jane.smith@acme.com"], ["415 555 0100"])) is None
    )
    # Mark and Mary at one company are not a typo away from one person.
    mark = person(3, "Mark", "Lee", ["mark@acme.com"])
    mary = compare(mark, person(4, "Mary", "Lee", ["mary@acme.com"]))
    assert mary is None or mary.decision == "possible"
    # A second John Smith at the same company with his own mailbox: review, not merge.
    other = compare(john, person(5, "John", "Smith", ["jsmith2@acme.com"], company="Acme"))
    assert other.decision == "possible"
    assert any(r.startswith("different addresses") for r in other.reasons)


def test_bad_records_are_refused_with_a_reason():
    for record, message in (
        ([], "JSON object"),
        ({"id": 1, "emailAddresses": 5}, "emailAddresses"),
        ({"id": 1.5}, "id"),
        ({"id": 1, "company": 3}, "company"),
    ):
        try:
            prepare(record)
        except InvalidContact as exc:
            assert message in str(exc)
        else:
            raise AssertionError(record)


def test_index_finds_what_all_pairs_finds_each_pair_once(monkeypatch):
    sample = generate(300, seed=5)
    people = [prepare(r) for r in sample.records]
    brute = {
        (a.id, b.id)
        for i, a in enumerate(people)
        for b in people[i + 1 :]
        if match(a, b) is not None
    }
    found = [
        tuple(sorted((m.a, m.b), key=[p.id for p in people].index)) for m in find_duplicates(people)
    ]
    assert len(found) == len(set(found))  # each pair once, whatever keys it shares
    assert set(found) <= brute
    assert len(set(found)) >= 0.97 * len(brute)
    # Tiny blocks force the sorted-neighbourhood path: still no pair twice, still most pairs.
    monkeypatch.setattr(duplicate_index, "MAX_BLOCK", 3)
    small = [(m.a, m.b) for m in find_duplicates(people)]
    assert len(small) == len(set(small)) and len(small) >= 0.9 * len(found)


def test_matcher_meets_its_targets_on_the_labelled_set():
    sample = generate(2000, seed=42)
    figures = evaluate(sample, find_duplicates(sample.records))
    assert figures["duplicate_precision"] >= 0.98, figures
    assert figures["any_recall"] >= 0.9, figures


names = st.sampled_from(["", "Bob", "Robert", "R.", "Smith", "Smyth", "José", "Jose", "Ann"])
records = st.builds(
    person,
    st.just("x"),
    names,
    names,
    st.lists(
        st.sampled_from(["bob@acme.com", "r.smith@gmail.com", "rsmith@gmail.com"]), max_size=2
    ),
    st.lists(st.sampled_from(["415 555 0100", "+1 (415) 555-0100", "020 7946 0958"]), max_size=2),
    st.sampled_from(["", "Acme", "ACME Inc.", "Globex"]),
)


@settings(max_examples=300, deadline=None)
@given(records, records)
def test_score_is_symmetric_and_bounded(a, b):
    pa, pb = prepare(a), prepare(b)
    score, _ = score_pair(pa, pb)
    assert 0.0 <= score <= 1.0
    assert score == score_pair(pb, pa)[0]


@settings(max_examples=200, deadline=None)
@given(records)
def test_identical_records_with_a_contact_detail_are_duplicates(record):
    p = prepare(record)
    has_name, full_name = bool(p.first or p.last), bool(p.first and p.last)
    # A half name ('Bob' at Acme) fits too many people without a phone.
    if p.mailboxes or (has_name and p.phones) or (full_name and (p.domains or p.company)):
        assert score_pair(p, p)[0] >= DUPLICATE_THRESHOLD
    else:
        assert score_pair(p, p)[0] < DUPLICATE_THRESHOLD
    assert POSSIBLE_THRESHOLD < DUPLICATE_THRESHOLD


small_books = st.lists(
    st.builds(
        person,
        st.just(""),
        st.sampled_from(["", "Bob", "Robert", "Rob", "Jane"]),
        st.sampled_from(["", "Smith", "Smyth", "Doe"]),
        st.lists(st.sampled_from(["bob@acme.com", "BOB@acme.com", "jd@gmail.com"]), max_size=2),
        st.lists(st.sampled_from(["415 555 0100", "+1 415 555 0100", "212 555 0199"]), max_size=1),
        st.sampled_from(["", "Acme"]),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(small_books)
def test_index_reports_every_pair_sharing_a_mailbox_or_phone_once(book):
    people = [prepare({**r, "id": i}) for i, r in enumerate(book)]
    found = [(m.a, m.b) for m in find_duplicates(people)]
    assert len(found) == len(set(found))
    for i, a in enumerate(people):
        for b in people[i + 1 :]:
            expected = match(a, b)
            if expected is not None and (
                set(a.mailboxes) & set(b.mailboxes) or set(a.phones) & set(b.phones)
            ):
                assert (a.id, b.id) in found, (a, b)


def test_a_number_on_many_records_is_a_switchboard_not_a_person():
    office = "+1 212 555 0199"
    given = "Alice Boris Carla Derek Elena Felix Greta Hugo Irene Jonas Karin Lars Mona".split()
    family = "Baker Cruz Dunn Eaton".split()
    staff = [
        person(f"s{i}{j}", g, f, phones=[office])
        for i, g in enumerate(given)
        for j, f in enumerate(family[:2])
    ]
    book = [
        *staff,
        person("a", "John", "Smith", phones=[office]),
        person("b", "", "Smith", phones=[office]),
        person("c", "Mary", "Jones", phones=["+1 415 555 0100"]),
        person("d", "", "Jones", phones=["(415) 555-0100"]),
    ]
    found = {(m.a, m.b): m for m in find_duplicates(book)}
    # A half name on someone's own number is worth a look; on the switchboard it is not.
    assert found[("c", "d")].decision == "possible"
    assert ("a", "b") not in found and ("b", "a") not in found
    # Colleagues with only the number in common are not a pair either.
    assert not any(m.a.startswith("s") and m.b.startswith("s") for m in found.values())
