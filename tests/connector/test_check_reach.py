"""`brightsync connector check` ends with what the connector gets you per domain: tried
against the reference CRM, whole and in the variants a provider may build."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from brightsync.connector.check import run_check
from brightsync.connector.cli import connector
from brightsync.connector.report import format_report
from brightsync.crm.reach import CANNOT, DOMAINS, FULL, LIMITED
from brightsync.sandbox.crm.breakages import MINIMAL

TOKEN = "sandbox-crm-token"
ALL_FULL = {d: (FULL, []) for d in DOMAINS}
DELETIONS = "CRM deletions reach mailboxes only at the safety sync"
NO_EVENTS = [
    "no GET /events?startAt=&endAt=",
    "no GET /events?since=",
    "no POST /events",
    "no PATCH or PUT /events/{id}",
]

# breakages -> per domain (verdict, the start of each limit or reason, in order)
VARIANTS: dict[str, tuple[frozenset[str], dict[str, tuple[str, list[str]]]]] = {
    "reference": (frozenset(), ALL_FULL),
    "minimal": (
        MINIMAL,
        {
            "email": (
                LIMITED,
                [
                    "an email whose create answer was lost is sent again",
                    "emails cannot be updated",
                    "contacts cannot be auto-created",
                    "emails are related to contacts and companies only",
                    "emails waiting in the sync cache are retried on its schedule",
                    "contacts found are not shared between runs",
                ],
            ),
            "calendar": (CANNOT, NO_EVENTS),
            "contacts": (
                CANNOT,
                ["no GET /contacts?since=", "no POST /contacts", "no PATCH or PUT /contacts/{id}"],
            ),
            "tasks": (
                CANNOT,
                ["no GET /tasks?since=", "no POST /tasks", "no PATCH or PUT /tasks/{id}"],
            ),
        },
    ),
    "no_events": (frozenset({"no_events"}), {**ALL_FULL, "calendar": (CANNOT, NO_EVENTS)}),
    "no deleted contacts, users or deals": (
        frozenset({"no_deleted_contacts", "no_users", "no_opportunities"}),
        {
            "email": (LIMITED, ["emails are related to contacts and companies only"]),
            "calendar": (
                LIMITED,
                [
                    "internal attendees matched by address only",
                    "meetings are related to contacts and companies only",
                ],
            ),
            "contacts": (LIMITED, [DELETIONS]),
            "tasks": (LIMITED, ["due dates are read in UTC"]),
        },
    ),
    "no_companies": (
        frozenset({"no_companies"}),
        {
            "email": (LIMITED, ["no companies: contacts are created without a company"]),
            "calendar": (LIMITED, ["no companies: contacts are created without a company"]),
            "contacts": (
                LIMITED,
                [
                    "no companies: contacts are created without a company",
                    "the companies of CRM contacts do not reach mailboxes",
                ],
            ),
            "tasks": (FULL, []),
        },
    ),
    # PUT still works for emails and events; contacts and tasks have no PUT.
    "no_patch": (
        frozenset({"no_patch"}),
        {
            "email": (FULL, []),
            "calendar": (FULL, []),
            "contacts": (CANNOT, ["no PATCH or PUT /contacts/{id}"]),
            "tasks": (CANNOT, ["no PATCH or PUT /tasks/{id}"]),
        },
    ),
}


def rows(report) -> dict[str, tuple[str, list[str]]]:
    return {r.domain: (r.verdict, list(r.reasons or r.limits)) for r in report.reach}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_check_ends_with_what_each_domain_gets(reference_crm, variant):
    breakages, expected = VARIANTS[variant]
    report = run_check(reference_crm(breakages).url, token=TOKEN)
    text = format_report(report)
    got = rows(report)
    assert [r.domain for r in report.reach] == list(DOMAINS)
    for domain, (verdict, starts) in expected.items():
        assert got[domain][0] == verdict, (domain, text)
        assert len(got[domain][1]) == len(starts), (domain, text)
        for line, start in zip(got[domain][1], starts, strict=True):
            assert line.startswith(start), (domain, text)
    assert all(not r.unknown for r in report.reach), text  # the check leaves nothing open
    # The table closes the text report, one line per domain and per limit or reason.
    table = text[text.index("What this connector gets you:") :].splitlines()
    assert len(table) == 1 + len(DOMAINS) + sum(len(s) for _, s in expected.values())


def test_an_operation_that_fails_its_check_counts_as_missing(reference_crm):
    report = run_check(reference_crm({"since_exclusive"}).url, token=TOKEN)
    got = rows(report)
    assert got["calendar"][0] == got["contacts"][0] == got["tasks"][0] == CANNOT
    assert got["calendar"][1] == [
        "no GET /events?since=: changes made in the CRM cannot be read",
    ]
    assert got["email"][0] == LIMITED
    assert [t.split(" (")[0] for t in got["email"][1]] == [
        "emails waiting in the sync cache are retried on its schedule",
        "contacts found are not shared between runs",
    ]
    assert report.broken == [
        "contacts.since",
        "contacts.deleted",
        "events.since",
        "events.deleted",
        "tasks.since",
        "tasks.deleted",
    ]
    assert "(counted as not offered because their check failed: contacts.since," in (
        format_report(report)
    )


def test_what_no_check_could_show_is_asked_by_discovery(reference_crm):
    # Creates answer without an id: the event checks after the create are not tried, and
    # discovery finds the window, the feeds and the update all the same. The create itself
    # failed its check, so it counts as missing.
    report = run_check(reference_crm({"missing_id_on_create"}).url, token=TOKEN)
    for name in ("events.window", "events.since", "events.update", "events.deleted"):
        assert report.result(name).status == "SKIP", name
    assert rows(report)["calendar"] == (
        CANNOT,
        ["no POST /events: meetings cannot be created in the CRM"],
    )
    assert "events.create" in report.broken


def test_without_credentials_what_no_check_showed_is_not_claimed(reference_crm):
    # A connector that needs none is checked without: discovery (which needs credentials
    # the product could use) asks nothing, so only what the checks showed is said.
    report = run_check(reference_crm(MINIMAL | {"no_auth"}).url)
    assert rows(report)["calendar"] == (
        CANNOT,
        [
            "no GET /events?since=: changes made in the CRM cannot be read",
            "no POST /events: meetings cannot be created in the CRM",
        ],
    )


def test_cli_prints_the_table_and_json_carries_it(reference_crm):
    crm = reference_crm({"no_users"})
    result = CliRunner().invoke(connector, ["check", crm.url, "--token", TOKEN])
    assert result.exit_code == 0, result.output
    tail = result.output[result.output.index("What this connector gets you:") :]
    assert "  email     works fully\n" in tail
    assert "  calendar  works with limits\n" in tail
    assert "- internal attendees matched by address only" in tail
    result = CliRunner().invoke(connector, ["check", crm.url, "--token", TOKEN, "--json"])
    data = json.loads(result.output)
    assert [r["domain"] for r in data["reach"]] == list(DOMAINS)
    assert data["reach"][3]["label"] == "works with limits"
    assert data["reach"][3]["limits"][0].startswith("due dates are read in UTC")
    assert data["reachCountsAsMissing"] == []
