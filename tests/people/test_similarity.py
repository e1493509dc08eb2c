from hypothesis import given
from hypothesis import strategies as st

from brightsync.people.similarity import (
    SIMILARITY_THRESHOLD,
    find_similar_contact,
    name_similarity,
    score_candidate,
)


def contact(cid, first, last, *emails, company="co1"):
    return {
        "id": cid,
        "firstName": first,
        "lastName": last,
        "emailAddresses": list(emails),
        "companyId": company,
    }


def test_name_similarity_handles_nicknames_initials_order_and_accents():
    assert name_similarity("Bob", "Smith", "Robert", "Smith") >= SIMILARITY_THRESHOLD
    assert name_similarity("J.", "Smith", "John", "Smith") >= SIMILARITY_THRESHOLD
    assert name_similarity("Smith", "John", "John", "Smith") == 100
    assert name_similarity("José", "García", "jose", "GARCIA") == 100
    assert name_similarity("John", "Smith", "John", "Smyth") >= SIMILARITY_THRESHOLD


def test_name_similarity_rejects_different_people():
    assert name_similarity("John", "Smith", "Jane", "Smith") < SIMILARITY_THRESHOLD
    assert name_similarity("Mary", "Jones", "John", "Smith") < SIMILARITY_THRESHOLD
    assert name_similarity("K", "Smith", "John", "Smith") < SIMILARITY_THRESHOLD
    assert name_similarity("", "", "John", "Smith") == 0


def test_same_company_domain_and_similar_name_is_linked():
    candidates = [
        contact("1", "Jane", "Doe", "jane.doe@acme.com"),
        contact("2", "Robert", "Smith", "robert.smith@acme.com"),
    ]
    found = find_similar_contact("Bob", "Smith", "bob@eu.acme.com", candidates)
    assert found is not None and found["id"] == "2"


def test_same_domain_but_different_name_is_not_linked():
    candidates = [contact("1", "Jane", "Smith", "jane.smith@acme.com")]
    assert find_similar_contact("John", "Smith", "john.smith@acme.com", candidates) is None


def test_free_mail_domain_is_not_a_company():
    candidates = [contact("1", "Bob", "Smith", "bobby.smith@gmail.com")]
    assert find_similar_contact("Bob", "Smith", "bob.smith1@gmail.com", candidates) is None


def test_same_local_part_on_sibling_domain():
    candidates = [contact("1", "Jane", "Doe", "jdoe@acme.com")]
    found = find_similar_contact("", "Jdoe", "jdoe@acme.co.uk", candidates)
    assert found is not None and found["id"] == "1"
    # A contradicting name on the sibling domain is a different person.
    assert find_similar_contact("Peter", "Miller", "jdoe@acme.co.uk", candidates) is None
    # Same local part on an unrelated company is not a sibling.
    assert find_similar_contact("", "Jdoe", "jdoe@globex.co.uk", candidates) is None


def test_same_local_part_on_subdomain_of_same_company():
    candidates = [contact("1", "John", "Smith", "john@acme.com")]
    assert find_similar_contact("", "", "john@eu.acme.com", candidates)["id"] == "1"


def test_role_local_part_alone_proves_nothing():
    candidates = [contact("1", "Sales", "Team", "sales@acme.com")]
    assert find_similar_contact("", "", "sales@acme.co.uk", candidates) is None


def test_exact_address_wins_and_best_score_is_chosen():
    candidates = [
        contact("1", "Jon", "Smith", "jon@acme.com"),
        contact("2", "John", "Smith", "John.Smith@ACME.com"),
    ]
    assert find_similar_contact("John", "Smith", "john.smith@acme.com", candidates)["id"] == "2"
    assert score_candidate("x", "y", "john.smith@acme.com", candidates[1]) == 100


def test_tolerates_malformed_candidates():
    candidates = [
        None,
        {"id": "1", "emailAddresses": None},
        {"id": "2", "firstName": 5, "lastName": None, "emailAddresses": "bob.smith@acme.com"},
        {
            "id": "3",
            "emailAddresses": [{"address": "robert.smith@acme.com"}],
            "firstName": "Robert",
            "lastName": "Smith",
        },
    ]
    found = find_similar_contact("Bob", "Smith", "bob@acme.com", candidates)
    assert found is not None and found["id"] == "3"
    assert find_similar_contact("Bob", "Smith", "bad address", candidates) is None
    assert find_similar_contact("Bob", "Smith", "bob@acme.com", None) is None


names = st.text(alphabet=st.characters(categories=["L"]), max_size=12)


@given(names, names, names, names)
def test_name_similarity_is_symmetric_and_bounded(fa, la, fb, lb):
    score = name_similarity(fa, la, fb, lb)
    assert 0 <= score <= 100
    assert abs(score - name_similarity(fb, lb, fa, la)) < 1e-6


def test_shared_last_name_alone_is_not_enough():
    candidates = [contact("1", "John", "Smith", "john.smith@acme.com")]
    assert find_similar_contact("", "Smith", "smith@acme.com", candidates) is None
