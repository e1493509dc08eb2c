"""`brightsync connector check` against the reference CRM, whole and deliberately broken."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from brightsync.connector.check import run_check
from brightsync.connector.cli import connector
from brightsync.connector.openapi import connector_openapi
from brightsync.connector.report import FAIL, PASS, SKIP, format_report
from brightsync.sandbox.crm.breakages import BREAKAGES, MINIMAL, PROFILES

TOKEN = "sandbox-crm-token"
REQUIRED = {"auth", "emails.create", "contacts.lookup", "contacts.lookup.case"}


def statuses(report) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


def not_passed(report) -> dict[str, str]:
    return {r.name: r.status for r in report.results if r.status != PASS}


def test_reference_crm_passes_every_check(full_crm):
    report = run_check(full_crm.url, token=TOKEN)
    assert not_passed(report) == {}, format_report(report)
    assert report.exit_code == 0
    assert {r.name for r in report.results if r.required} == REQUIRED
    names = set(statuses(report))
    assert {
        "auth",
        "emails.create",
        "emails.lookup",
        "emails.get",
        "emails.update",
        "emails.attach",
        "contacts.create",
        "contacts.lookup",
        "contacts.lookup.case",
        "contacts.lookup.list",
        "contacts.get",
        "contacts.update",
        "contacts.since",
        "contacts.delete",
        "contacts.deleted",
        "contacts.showDeleted",
        "paging",
        "companies.create",
        "companies.lookup.domain",
        "companies.lookup.name",
        "companies.get",
        "opportunities.lookup",
        "users.me",
        "users.lookup",
        "leads.lookup",
        "calendars.list",
        "events.create",
        "events.get",
        "events.update",
        "events.window",
        "events.since",
        "events.delete",
        "events.deleted",
        "events.showDeleted",
        "tasks.create",
        "tasks.get",
        "tasks.update",
        "tasks.since",
        "tasks.delete",
        "tasks.deleted",
        "tasks.showDeleted",
        "creates.idempotency-key",
    } == names
    # Only what the contract cannot delete stays behind.
    assert sorted(x.split()[0] for x in report.leftovers) == ["company", "email"]
    assert full_crm.records("contacts") == [] and full_crm.records("events") == []


def test_cli_check_passes_with_exit_zero(full_crm):
    result = CliRunner().invoke(connector, ["check", full_crm.url, "--token", TOKEN])
    assert result.exit_code == 0, result.output
    assert "PASS  emails.create (required)" in result.output
    assert "Result: PASS" in result.output
    assert "Summary: 42 passed, 0 failed (0 required), 0 not offered, 0 skipped." in result.output
    assert "Recommended:" not in result.output


def test_cli_json_report(full_crm):
    result = CliRunner().invoke(connector, ["check", full_crm.url, "--token", TOKEN, "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["ok"] is True and data["baseUrl"] == full_crm.url
    assert all(r["status"] == PASS for r in data["results"])


def test_basic_auth(reference_crm):
    crm = reference_crm(token=None, basic=("api", "s3cret"))
    report = run_check(crm.url, username="api", password="s3cret")
    assert not_passed(report) == {}, format_report(report)
    result = CliRunner().invoke(
        connector, ["check", crm.url, "--username", "api", "--password", "s3cret"]
    )
    assert result.exit_code == 0


# Each breakage, and exactly the checks that must notice it (with their verdict).
CASES = {
    "no_auth": ({"auth": FAIL}, 1),
    "missing_id_on_create": (
        {
            "emails.create": FAIL,
            "contacts.create": FAIL,
            "companies.create": FAIL,
            "events.create": FAIL,
            "tasks.create": FAIL,
        },
        1,
    ),
    "no_email_lookup": ({"emails.lookup": SKIP}, 0),
    "email_lookup_ignores_filter": ({"emails.lookup": FAIL}, 0),
    "create_not_idempotent_lookup": ({"emails.lookup": FAIL}, 0),
    "no_email_update": ({"emails.update": SKIP}, 0),
    "no_email_attachments": ({"emails.attach": SKIP}, 0),
    "no_patch": ({"contacts.update": SKIP, "tasks.update": SKIP}, 0),
    "contact_lookup_case_sensitive": ({"contacts.lookup.case": FAIL}, 1),
    "wrong_field_types": (
        {
            "contacts.create": FAIL,
            "contacts.lookup": FAIL,
            "contacts.lookup.case": FAIL,
            "contacts.get": FAIL,
            "contacts.update": FAIL,
            "contacts.since": FAIL,
        },
        1,
    ),
    "since_exclusive": (
        {
            "contacts.since": FAIL,
            "contacts.deleted": FAIL,
            "events.since": FAIL,
            "events.deleted": FAIL,
            "tasks.since": FAIL,
            "tasks.deleted": FAIL,
        },
        0,
    ),
    "no_contact_write": ({"contacts.create": SKIP}, 0),
    "no_contacts_since": ({"contacts.since": SKIP}, 0),
    "no_deleted_contacts": ({"contacts.deleted": SKIP}, 0),
    "no_deleted_events": ({"events.deleted": SKIP}, 0),
    "no_deleted_tasks": ({"tasks.deleted": SKIP}, 0),
    "no_show_deleted": (
        {"contacts.showDeleted": SKIP, "events.showDeleted": SKIP, "tasks.showDeleted": SKIP},
        0,
    ),
    # Allowed by the email requirements: reported, never a failure.
    "single_contact_lookup": ({"contacts.lookup.list": SKIP}, 0),
    "deleted_contacts_empty": ({"contacts.deleted": FAIL}, 0),
    "no_companies": ({"companies.create": SKIP}, 0),
    "no_opportunities": ({"opportunities.lookup": SKIP}, 0),
    "no_users": ({"users.me": SKIP, "users.lookup": SKIP}, 0),
    "no_leads": ({"leads.lookup": SKIP}, 0),
    "no_events": ({"events.create": SKIP, "calendars.list": SKIP}, 0),
    "no_tasks": ({"tasks.create": SKIP}, 0),
    "no_options": ({}, 0),  # OPTIONS is not part of the contract
    # A recommendation, never a failure.
    "ignores_idempotency_key": ({"creates.idempotency-key": SKIP, "emails.attach": FAIL}, 0),
}


def test_every_breakage_has_a_case():
    assert set(CASES) == set(BREAKAGES)


@pytest.mark.parametrize("breakage", sorted(CASES))
def test_check_pinpoints_each_breakage(reference_crm, breakage):
    expected, exit_code = CASES[breakage]
    crm = reference_crm({breakage})
    report = run_check(crm.url, token=TOKEN)
    text = format_report(report)
    got = not_passed(report)
    # The checks named must have the verdict; every other check that did not pass is only
    # a consequence (skipped for want of a record or of a check it builds on).
    for name, status in expected.items():
        assert got.get(name) == status, text
    for name, status in got.items():
        if name not in expected:
            assert status == SKIP, text
            detail = report.result(name).detail
            assert detail.startswith(("not tried", "offered; not verified", "not offered")), text
    assert report.exit_code == exit_code, text
    for name in expected:
        result = report.result(name)
        assert result.detail  # a reason on every line
        label = f"{result.status:<5} {result.label}"
        assert label in text


def test_reasons_are_specific(reference_crm):
    report = run_check(reference_crm({"since_exclusive"}).url, token=TOKEN)
    assert "`since` is exclusive" in report.result("contacts.since").detail
    report = run_check(reference_crm({"contact_lookup_case_sensitive"}).url, token=TOKEN)
    assert "must ignore case" in report.result("contacts.lookup.case").detail
    report = run_check(reference_crm({"wrong_field_types"}).url, token=TOKEN)
    assert "emailAddresses: Not a valid list." in report.result("contacts.lookup").detail
    report = run_check(reference_crm({"no_email_lookup"}).url, token=TOKEN)
    result = report.result("emails.lookup")
    assert not result.offered and "405" in result.detail


def test_minimal_connector_passes_with_much_not_offered(reference_crm):
    crm = reference_crm(MINIMAL)
    report = run_check(crm.url, token=TOKEN)
    text = format_report(report)
    assert report.exit_code == 0, text
    assert statuses(report)["emails.create"] == PASS
    assert statuses(report)["contacts.lookup"] == PASS
    assert "matching not verified" in report.result("contacts.lookup").detail
    assert statuses(report)["contacts.lookup.case"] == SKIP
    absent = {r.name for r in report.results if not r.offered}
    assert {
        "emails.lookup",
        "contacts.create",
        "companies.lookup.domain",
        "events.create",
        "tasks.since",
        "users.me",
    } <= absent
    assert "not offered" in text and "Result: PASS" in text


def test_required_failure_exits_non_zero_in_the_cli(reference_crm):
    crm = reference_crm({"contact_lookup_case_sensitive"})
    result = CliRunner().invoke(connector, ["check", crm.url, "--token", TOKEN])
    assert result.exit_code == 1
    assert "FAIL  contacts.lookup.case (required)" in result.output
    assert "Result: FAIL: required capabilities fail: contacts.lookup.case" in result.output


def test_wrong_credentials_fail(full_crm):
    report = run_check(full_crm.url, token="wrong")
    assert report.exit_code == 1
    assert "refused" in report.result("auth").detail
    assert statuses(report)["emails.create"] == FAIL


def test_unreachable_connector_fails():
    report = run_check("http://127.0.0.1:9", token=TOKEN, timeout=2)
    assert report.exit_code == 1
    assert "no answer" in report.result("emails.create").detail


def test_cli_usage_errors():
    runner = CliRunner()
    result = runner.invoke(connector, ["check", "http://x", "--token", "t", "--username", "u"])
    assert result.exit_code == 2
    assert runner.invoke(connector, ["check", "http://x", "--username", "u"]).exit_code == 2


def test_cli_openapi_prints_the_contract():
    result = CliRunner().invoke(connector, ["openapi"])
    assert result.exit_code == 0
    assert json.loads(result.output) == connector_openapi()


def test_contacts_without_a_company_may_omit_company_id_or_send_null(reference_crm):
    # The reference CRM sends `companyId: null`; this one leaves every empty optional field
    # out. Both are within the contract ("if applicable") and pass every check.
    for crm in (reference_crm(), reference_crm(omit_nulls=True)):
        crm.seed(
            contacts=[{"firstName": "No", "lastName": "Company", "emailAddresses": ["n@x.io"]}]
        )
        report = run_check(crm.url, token=TOKEN)
        assert not_passed(report) == {}, format_report(report)
    listed = crm.records("contacts")
    answered = crm.http.get(
        f"{crm.url}/api/v1/contacts/lookup",
        params={"emails": "n@x.io"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    ).json()
    assert listed[0]["companyId"] is None and "companyId" not in answered[0]


def test_idempotency_key_is_reported_as_a_recommendation(reference_crm):
    honours = run_check(reference_crm().url, token=TOKEN)
    assert "same key answers the original" in honours.result("creates.idempotency-key").detail
    crm = reference_crm({"ignores_idempotency_key"})
    report = run_check(crm.url, token=TOKEN)
    text = format_report(report)
    result = report.result("creates.idempotency-key")
    assert (result.status, result.offered, report.exit_code) == (SKIP, False, 0), text
    assert "made another record" in result.detail
    assert "Recommended: honour the Idempotency-Key header" in text
    assert crm.records("contacts") == []  # both test contacts were deleted again


def test_calendars_of_a_crm_with_several_per_user(reference_crm):
    crm = reference_crm(user_calendars=("Calendar", "Sales"), child_events=True)
    report = run_check(crm.url, token=TOKEN)
    assert not_passed(report) == {}, format_report(report)
    me = crm.records("users")[0]["id"]
    assert report.result("calendars.list").detail == f"lists the 2 calendars of user {me}"
    # Two primaries for one user, a calendar without a name: each fails with its reason.
    crm.seed(calendars=[{"name": "Second", "ownerId": me, "primary": True}])
    detail = run_check(crm.url, token=TOKEN).result("calendars.list").detail
    assert f"user {me} has 2 primary calendars" in detail
    crm.settings(userCalendars=None)
    crm.app.extensions["brightsync_crm"].store.insert("calendars", {"ownerId": me})
    detail = run_check(crm.url, token=TOKEN).result("calendars.list").detail
    assert "name: missing" in detail


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_is_a_valid_connector(reference_crm, profile):
    """Connectors as providers build them: every check that does not pass is "not offered"
    or skipped, never failed, and the check's exit code is 0."""
    report = run_check(reference_crm(PROFILES[profile]).url, token=TOKEN)
    assert FAIL not in not_passed(report).values(), format_report(report)
    assert report.exit_code == 0
