from hypothesis import given
from hypothesis import strategies as st

from brightsync.people.addresses import (
    MAX_ADDRESS_LENGTH,
    domain_of,
    is_group_list,
    is_role_address,
    local_part,
    normalize_address,
)


def test_normalize_strips_display_name_brackets_mailto_and_case():
    assert normalize_address("John Smith <John.Smith@Example.COM>") == "john.smith@example.com"
    assert normalize_address("  <a@b.co>  ") == "a@b.co"
    assert normalize_address("MAILTO:Sales@Acme.io?subject=Hi") == "sales@acme.io"
    assert normalize_address("a@example.com.") == "a@example.com"
    assert normalize_address("ÜSER@Bücher.DE") == "üser@bücher.de"


def test_normalize_rejects_implausible_addresses():
    for raw in [
        None,
        42,
        "",
        "   ",
        "john",
        "a@localhost",
        "a@1.2.3.4",
        "a@[1.2.3.4]",
        "a@b@c.com",
        '"a b"@x.com',
        "a..b@x.com",
        ".a@x.com",
        "a.@x.com",
        "a@-x.com",
        "a@x_y.com",
        "<>",
        "John Smith",
        "a b@x.com",
        "a@x..com",
        "a\x00@x.com",
    ]:
        assert normalize_address(raw) is None, raw


def test_normalize_enforces_length_limits():
    local = "a" * 64
    fits = f"{local}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com"
    assert len(fits) == MAX_ADDRESS_LENGTH
    assert normalize_address(fits) == fits
    too_long = f"{local}@{'b' * 63}.{'c' * 63}.{'d' * 58}.com"
    assert normalize_address(too_long) is None
    assert normalize_address("a" * 65 + "@x.com") is None
    assert normalize_address("x@" + "d" * 64 + ".com") is None  # label > 63


def test_local_part_and_domain_of():
    assert local_part("Jane <Jane.Doe+crm@Acme.com>") == "jane.doe+crm"
    assert domain_of("Jane <Jane.Doe+crm@Acme.com>") == "acme.com"
    assert local_part("not an address") is None
    assert domain_of(None) is None


def test_role_addresses_are_detected():
    for addr in [
        "noreply@x.com",
        "no-reply@x.com",
        "no_reply@x.com",
        "donotreply@x.com",
        "do-not-reply@x.com",
        "mailer-daemon@x.com",
        "postmaster@x.com",
        "notifications@x.com",
        "notification@x.com",
        "bounce@x.com",
        "bounces+abc=def@x.com",
        "bounce-12345@x.com",
        "alerts@x.com",
        "newsletter@x.com",
        "noreply+tag@x.com",
        "github-noreply@x.com",
        "calendar-notification@google.com",
        "SRS0=abc=de=x.com=joe@fwd.net",
        "sales@x.com",
        "support@x.com",
        "info@x.com",
    ]:
        assert is_role_address(addr), addr


def test_people_are_not_role_addresses():
    for addr in ["john.smith@x.com", "jsmith@x.com", "maria@x.com", "ann-marie@x.com", "bad"]:
        assert not is_role_address(addr), addr


def test_group_list_by_shape():
    assert is_group_list("all@acme.com")
    assert is_group_list("sales-team@acme.com")
    assert is_group_list("engineering-list@acme.com")
    assert is_group_list("anything@googlegroups.com")
    assert is_group_list("dev@lists.example.org")
    assert not is_group_list("john.smith@acme.com")
    assert not is_group_list("garbage")


def test_group_list_by_headers():
    headers = [{"name": "list-id", "value": "Developers <dev.example.org>"}]
    assert is_group_list("dev@example.org", headers)
    assert not is_group_list("john@example.org", headers)
    post = {"List-Post": "<mailto:builders@example.org>"}
    assert is_group_list("builders@example.org", post)
    assert not is_group_list("builders@example.org", {"Subject": "builders@example.org"})
    # Garbage header containers are tolerated.
    assert not is_group_list("john@example.org", [None, 3, {"name": 1}])


@given(st.text(max_size=300))
def test_normalize_is_idempotent_on_any_text(raw):
    once = normalize_address(raw)
    if once is not None:
        assert normalize_address(once) == once
        assert len(once) <= MAX_ADDRESS_LENGTH
        assert once == once.strip() and "@" in once


addr_strategy = st.builds(
    lambda local, domain, tld, upper: (
        (f"{local}@{domain}.{tld}").upper() if upper else f"{local}@{domain}.{tld}"
    ),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,20}[A-Za-z0-9]", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True),
    st.sampled_from(["com", "co.uk", "io", "de"]),
    st.booleans(),
)


@given(addr_strategy, st.sampled_from(["{}", "<{}>", "Name <{}>", " mailto:{} "]))
def test_normalize_wrappings_agree(addr, template):
    expected = normalize_address(addr)
    assert normalize_address(template.format(addr)) == expected
    if ".." not in addr:
        assert expected == addr.lower()
