from hypothesis import given
from hypothesis import strategies as st

from brightsync.people.domains import (
    company_domain,
    company_name_from_domain,
    is_disposable,
    is_free_mail,
    is_internal,
    matches_exclusion,
    normalize_domains,
    registrable_domain,
    registrable_label,
)


def test_registrable_domain_uses_public_suffix_list():
    assert registrable_domain("mail.eu.acme.co.uk") == "acme.co.uk"
    assert registrable_domain("acme.co.uk") == "acme.co.uk"
    assert registrable_domain("WWW.Acme.COM") == "acme.com"
    assert registrable_domain("john@mail.acme.com.au") == "acme.com.au"
    assert registrable_domain("project.github.io") == "project.github.io"  # private suffix


def test_registrable_domain_rejects_non_domains():
    for host in ["co.uk", "com", "localhost", "192.168.0.1", "", None, 7, "a..b.com", "x y.com"]:
        assert registrable_domain(host) is None, host


def test_is_internal_matches_domain_and_subdomains_only():
    org = ["acme.com", "@Acme.io"]
    assert is_internal("a@acme.com", org)
    assert is_internal("a@eu.mail.acme.com", org)
    assert is_internal("A@ACME.IO", org)
    assert not is_internal("a@notacme.com", org)
    assert not is_internal("a@acme.com.evil.org", org)
    assert not is_internal("a@acme.com", [])
    assert not is_internal("garbage", org)
    assert is_internal("a@acme.com", "acme.com")  # a bare string is one domain


def test_matches_exclusion_addresses_and_domains():
    assert matches_exclusion("Lawyer <Bob@Firm.com>", [], ["bob@firm.com"])
    assert not matches_exclusion("alice@firm.com", [], ["bob@firm.com"])
    assert matches_exclusion("x@hr.example.org", ["example.org"], [])
    assert matches_exclusion("x@example.org", ["*.example.org"], [])
    assert not matches_exclusion("x@example.org.uk", ["example.org"], None)
    assert not matches_exclusion("x@example.org", None, None)
    assert matches_exclusion("x@example.org", 5, "X@Example.org")  # junk settings tolerated


def test_normalize_domains_cleans_settings_values():
    assert normalize_domains(["@Acme.com", "acme.com.", "*.acme.io", None, 3, "bad domain"]) == (
        "acme.com",
        "acme.io",
    )
    assert normalize_domains(None) == ()
    assert normalize_domains({"acme.com": 1}) == ()


def test_free_mail_and_disposable():
    assert is_free_mail("gmail.com")
    assert is_free_mail("GMAIL.com")
    assert is_free_mail("yahoo.co.uk")
    assert not is_free_mail("acme.com")
    assert is_disposable("mailinator.com")
    assert not is_disposable("acme.com")
    assert not is_free_mail(None)


def test_company_domain_skips_free_and_disposable():
    assert company_domain("john@eu.acme.co.uk") == "acme.co.uk"
    assert company_domain("john@gmail.com") is None
    assert company_domain("john@mailinator.com") is None
    assert company_domain("not-an-address") is None


def test_company_name_from_domain():
    assert company_name_from_domain("acme-corp.co.uk") == "Acme Corp"
    assert company_name_from_domain("mail.globex.com") == "Globex"
    assert company_name_from_domain("initech_systems.de") == "Initech Systems"
    assert company_name_from_domain("xn--bcher-kva.de") == "Bücher"
    assert company_name_from_domain("co.uk") == ""
    assert registrable_label("a.b.acme.com.au") == "acme"


@given(st.text(max_size=100))
def test_domain_helpers_never_raise(text):
    reg = registrable_domain(text)
    assert reg is None or "." in reg
    assert isinstance(company_name_from_domain(text), str)
    assert isinstance(is_free_mail(text), bool)
    assert isinstance(is_internal(text, [text]), bool)
