import pytest
from hypothesis import given
from hypothesis import strategies as st

from brightsync.people.names import (
    MAX_NAME_PART_LENGTH,
    decode_encoded_words,
    split_local_part,
    split_name,
)


@pytest.mark.parametrize(
    ("display", "address", "expected"),
    [
        ("John Smith", "x@acme.com", ("John", "Smith")),
        ("Smith, John", "x@acme.com", ("John", "Smith")),
        ("JOHN SMITH", "x@acme.com", ("John", "Smith")),
        ("Dr. John Q. Smith Jr.", "x@acme.com", ("John", "Smith")),
        ("Jan van der Berg", "x@acme.nl", ("Jan", "van der Berg")),
        ('"John Smith"', "x@acme.com", ("John", "Smith")),
        ("'John Smith' via Sales", "sales@acme.com", ("John", "Smith")),
        ("John Smith (Acme)", "x@acme.com", ("John", "Smith")),
        ("=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?=", "x@acme.de", ("Jörg", "Müller")),
    ],
)
def test_split_name_from_display_name(display, address, expected):
    assert split_name(display, address) == expected


@pytest.mark.parametrize(
    ("display", "address", "expected"),
    [
        (None, "john.smith@acme.com", ("John", "Smith")),
        ("", "john_smith42@acme.com", ("John", "Smith")),
        ("john.smith@acme.com", "john.smith@acme.com", ("John", "Smith")),
        ("john.smith", "john.smith@acme.com", ("John", "Smith")),
        ('""', "mary-jane.watson@acme.com", ("Mary", "Watson")),
        ("Undisclosed recipients", "jsmith@acme.com", ("", "Jsmith")),
        ("12345", "jsmith+crm@acme.com", ("", "Jsmith")),
        (None, "a.b.c@acme.com", ("A", "C")),
    ],
)
def test_split_name_falls_back_to_local_part(display, address, expected):
    assert split_name(display, address) == expected


def test_single_word_display_name_is_completed_from_matching_local_part():
    assert split_name("John", "john.smith@acme.com") == ("John", "Smith")
    assert split_name("John", "jd@acme.com") == ("John", "")


def test_split_name_without_anything_usable():
    assert split_name(None, None) == ("", "")
    assert split_name("", "not an address") == ("", "")
    assert split_local_part("1234@acme.com") == ("", "")


def test_decode_encoded_words_is_tolerant():
    assert decode_encoded_words("=?iso-8859-1?q?Andr=E9?=") == "André"
    assert decode_encoded_words("plain") == "plain"
    assert decode_encoded_words("=?x-unknown?b?!!!?=") == "=?x-unknown?b?!!!?="
    assert decode_encoded_words(None) == ""


@given(st.one_of(st.none(), st.text(max_size=400)), st.one_of(st.none(), st.text(max_size=80)))
def test_split_name_never_raises_and_is_bounded(display, address):
    first, last = split_name(display, address)
    assert isinstance(first, str) and isinstance(last, str)
    assert len(first) <= MAX_NAME_PART_LENGTH and len(last) <= MAX_NAME_PART_LENGTH
    assert "@" not in first + last
