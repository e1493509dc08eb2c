"""What a connector gets you, per domain (brightsync.crm.reach): every need and every limit of
every domain, one at a time and in the combinations that change the answer."""

from __future__ import annotations

import pytest

from brightsync.clients.capabilities import Capabilities
from brightsync.crm.reach import (
    CANNOT,
    DOMAINS,
    ENDPOINTS,
    FULL,
    LIMITED,
    LIMITS,
    NEEDS,
    PRESUMED,
    UNKNOWN,
    connector_reach,
    domain_reach,
    reach_lines,
)

EVERYTHING = Capabilities.everything().as_dict()


def without(*names: str, **extra: bool) -> dict[str, bool]:
    return {**EVERYTHING, **dict.fromkeys(names, False), **extra}


def table(caps: dict[str, bool]) -> dict[str, tuple[str, list[str]]]:
    return {
        row.domain: (row.verdict, list(row.reasons or row.limits)) for row in connector_reach(caps)
    }


def test_every_name_is_a_capability_or_a_presumed_one():
    known = set(Capabilities.names()) | set(PRESUMED)
    named = {n for rows in NEEDS.values() for need in rows for n in need.any_of}
    for rows in LIMITS.values():
        for limit in rows:
            named |= set(limit.missing) | {n for group in limit.when for n in group}
    assert named <= known
    assert set(ENDPOINTS) == known  # every capability has its endpoint in words
    assert set(NEEDS) == set(LIMITS) == set(DOMAINS) == {"email", "calendar", "contacts", "tasks"}


def test_a_connector_offering_everything_works_fully_everywhere():
    assert table(EVERYTHING) == {d: (FULL, []) for d in DOMAINS}


NEED_CASES = [(domain, need) for domain in DOMAINS for need in NEEDS[domain]]


@pytest.mark.parametrize(
    "domain,need", NEED_CASES, ids=[f"{d}-{n.any_of[0]}" for d, n in NEED_CASES]
)
def test_each_need_alone_stops_its_domain_and_says_why(domain, need):
    row = domain_reach(domain, without(*need.any_of))
    assert row.verdict == CANNOT
    assert row.reasons == (need.why,)
    assert row.limits == ()  # a domain that cannot run has no limits to list


LIMIT_CASES = [(domain, limit) for domain in DOMAINS for limit in LIMITS[domain]]


@pytest.mark.parametrize(
    "domain,limit", LIMIT_CASES, ids=[f"{d}-{'+'.join(x.missing)}" for d, x in LIMIT_CASES]
)
def test_each_limit_alone_is_named(domain, limit):
    # Off: what it misses. On: what makes it matter (the whole of each `when` group).
    caps = without(*limit.missing)
    row = domain_reach(domain, caps)
    assert row.verdict == LIMITED
    assert limit.text in row.limits
    # Nothing else is blamed on it, except limits about the very same capability.
    others = [x.text for x in LIMITS[domain] if x.text in row.limits and x is not limit]
    for text in others:
        other = next(x for x in LIMITS[domain] if x.text == text)
        assert set(other.missing) & set(limit.missing), text


@pytest.mark.parametrize(
    "domain,limit",
    [(d, x) for d, x in LIMIT_CASES if len(x.missing) > 1],
    ids=[f"{d}-{'+'.join(x.missing)}" for d, x in LIMIT_CASES if len(x.missing) > 1],
)
def test_a_limit_with_alternatives_needs_all_of_them_missing(domain, limit):
    for name in limit.missing:
        others = [n for n in limit.missing if n != name]
        row = domain_reach(domain, without(*others, **{name: True}))
        assert limit.text not in row.limits


@pytest.mark.parametrize(
    "domain,limit",
    [(d, x) for d, x in LIMIT_CASES if x.when],
    ids=[f"{d}-{'+'.join(x.missing)}" for d, x in LIMIT_CASES if x.when],
)
def test_a_limit_that_only_matters_with_something_else_is_silent_without_it(domain, limit):
    for group in limit.when:
        row = domain_reach(domain, without(*limit.missing, *group))
        assert limit.text not in row.limits


# The connector of issue 17's "done when": required operations, the delta feeds and writes
# of each domain; no deleted feeds, no users/lookup, one address per contact lookup.
SPARE = {
    **dict.fromkeys(Capabilities.names(), False),
    "email_create": True,
    "contact_lookup": True,
    "contact_lookup_list": False,
    "contacts_since": True,
    "contact_create": True,
    "contact_update": True,
    "events_window": True,
    "events_since": True,
    "event_create": True,
    "event_update": True,
    "tasks_since": True,
    "task_create": True,
    "task_update": True,
}

READABLE = [
    (
        "everything but deleted feeds",
        without(
            "deleted_events",
            "deleted_contacts",
            "deleted_tasks",
            "events_show_deleted",
            "contacts_show_deleted",
            "tasks_show_deleted",
        ),
        {
            "email": (FULL, []),
            "calendar": (LIMITED, ["CRM deletions reach mailboxes only at the safety sync"]),
            "contacts": (LIMITED, ["CRM deletions reach mailboxes only at the safety sync"]),
            "tasks": (LIMITED, ["CRM deletions reach mailboxes only at the safety sync"]),
        },
    ),
    (
        "showDeleted instead of deleted feeds",
        without(
            "deleted_events",
            "deleted_contacts",
            "deleted_tasks",
            events_show_deleted=True,
            contacts_show_deleted=True,
            tasks_show_deleted=True,
        ),
        {d: (FULL, []) for d in DOMAINS},
    ),
    (
        "no users",
        without("users", "users_me"),
        {
            "email": (FULL, []),
            "calendar": (LIMITED, ["internal attendees matched by address only"]),
            "contacts": (FULL, []),
            "tasks": (LIMITED, ["due dates are read in UTC"]),
        },
    ),
    (
        "no events",
        without(*(n for n in EVERYTHING if "event" in n)),
        {
            "email": (FULL, []),
            "calendar": (
                CANNOT,
                [
                    "no GET /events?startAt=&endAt=",
                    "no GET /events?since=",
                    "no POST /events",
                    "no PATCH or PUT /events/{id}",
                ],
            ),
            "contacts": (FULL, []),
            "tasks": (FULL, []),
        },
    ),
    (
        "no companies",
        without("company_lookup_domain", "company_lookup_name", "company_get", "company_create"),
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
    (
        "emails cannot be updated",
        without("email_update"),
        {
            "email": (LIMITED, ["emails cannot be updated"]),
            "calendar": (FULL, []),
            "contacts": (FULL, []),
            "tasks": (FULL, []),
        },
    ),
    (
        "the spare connector of issue 17",
        SPARE,
        {
            "email": (
                LIMITED,
                [
                    "an email whose create answer was lost is sent again",
                    "emails cannot be updated",
                    "contacts are looked up one address per call",
                    "no companies: contacts are created without a company",
                    "emails are related to contacts and companies only",
                ],
            ),
            "calendar": (
                LIMITED,
                [
                    "CRM deletions reach mailboxes only at the safety sync",
                    "meetings deleted in a mailbox stay in the CRM",
                    "internal attendees matched by address only",
                    "a meeting whose create answer was lost is found again",
                    "contacts are looked up one address per call",
                    "no companies: contacts are created without a company",
                    "meetings are related to contacts and companies only",
                ],
            ),
            "contacts": (
                LIMITED,
                [
                    "CRM deletions reach mailboxes only at the safety sync",
                    "contacts deleted in a mailbox stay in the CRM",
                    "no companies: contacts are created without a company",
                    "the companies of CRM contacts do not reach mailboxes",
                    "contacts are looked up one address per call",
                ],
            ),
            "tasks": (
                LIMITED,
                [
                    "CRM deletions reach mailboxes only at the safety sync",
                    "tasks deleted in a mailbox stay in the CRM",
                    "due dates are read in UTC",
                    "a due date changed in a mailbox cannot be written to the CRM",
                ],
            ),
        },
    ),
    (
        "only the two required operations",
        dict.fromkeys(Capabilities.names(), False)
        | {"email_create": True, "contact_lookup": True, "contact_lookup_list": True},
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
            "calendar": (
                CANNOT,
                [
                    "no GET /events?startAt=&endAt=",
                    "no GET /events?since=",
                    "no POST /events",
                    "no PATCH or PUT /events/{id}",
                ],
            ),
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
    (
        "no logging of email at all",
        without("email_create"),
        {
            "email": (CANNOT, ["no POST /emails: emails cannot be logged"]),
            "calendar": (FULL, []),
            "contacts": (FULL, []),
            "tasks": (FULL, []),
        },
    ),
]


@pytest.mark.parametrize("name,caps,expected", READABLE, ids=[r[0] for r in READABLE])
def test_what_each_connector_gets(name, caps, expected):
    got = table(caps)
    assert set(got) == set(expected)
    for domain, (verdict, starts) in expected.items():
        got_verdict, texts = got[domain]
        assert got_verdict == verdict, (domain, texts)
        assert len(texts) == len(starts), (domain, texts)
        for text, start in zip(texts, starts, strict=True):
            assert text.startswith(start), (domain, text)


# --- what is not known yet (an org's remembered capabilities are partial) -----------------


def test_nothing_known_yet_is_said_so_with_what_was_not_asked():
    rows = {row.domain: row for row in connector_reach({})}
    assert {row.verdict for row in rows.values()} == {UNKNOWN}
    # Email's two required operations are presumed: only the optional ones are open.
    assert "POST /emails" not in rows["email"].unknown
    assert "PATCH or PUT /emails/{id}" in rows["email"].unknown
    assert rows["calendar"].unknown[0] == "GET /events?startAt=&endAt="
    assert all(row.limits == () and row.reasons == () for row in rows.values())


def test_a_missing_need_decides_even_when_the_rest_is_unknown():
    row = domain_reach("calendar", {"events_since": False})
    assert row.verdict == CANNOT
    assert row.reasons == (NEEDS["calendar"][1].why,)


def test_known_limits_show_while_a_need_is_still_unknown():
    caps = without("users")
    del caps["events_window"]
    row = domain_reach("calendar", caps)
    assert row.verdict == UNKNOWN
    assert row.limits[0].startswith("internal attendees matched by address only")
    assert row.unknown == ("GET /events?startAt=&endAt=",)


def test_a_limit_with_one_alternative_unknown_is_open():
    caps = without("deleted_events", "events_show_deleted")  # neither: the limit holds
    assert domain_reach("calendar", caps).limits[0].startswith("CRM deletions")
    caps["events_show_deleted"] = True
    assert domain_reach("calendar", caps).verdict == FULL
    partial = {
        k: v for k, v in without().items() if k not in ("deleted_events", "events_show_deleted")
    }
    row = domain_reach("calendar", partial)
    assert row.verdict == UNKNOWN and row.unknown == ("GET /deletedEvents?since=",)


def test_a_limit_that_may_not_matter_is_open_until_known():
    caps = without("company_lookup_domain")
    del caps["contact_create"]
    row = domain_reach("email", caps)
    assert row.verdict == UNKNOWN and row.limits == ()
    assert row.unknown == ("POST /contacts",)


def test_limited_with_something_unknown_lists_both():
    caps = without("email_update")
    del caps["opportunities"]
    row = domain_reach("email", caps)
    assert row.verdict == LIMITED
    assert row.limits[0].startswith("emails cannot be updated")
    assert row.unknown == ("GET /opportunities/lookup",)


def test_lists_in_the_contact_lookup_are_presumed_until_refused():
    assert domain_reach("email", EVERYTHING).verdict == FULL  # the name is not even present
    row = domain_reach("email", {**EVERYTHING, "contact_lookup_list": False})
    assert row.limits == (
        "contacts are looked up one address per call (slower: more calls per email)",
    )


def test_as_dict_and_lines():
    rows = connector_reach(without("users", "event_create"))
    out = [row.as_dict() for row in rows]
    assert out[1] == {
        "domain": "calendar",
        "verdict": CANNOT,
        "label": "cannot run",
        "limits": [],
        "reasons": ["no POST /events: meetings cannot be created in the CRM"],
        "notKnownYet": [],
    }
    assert out[3]["label"] == "works with limits" and out[0]["label"] == "works fully"
    lines = reach_lines(rows)
    assert lines[0] == "  email     works fully"
    assert lines[1] == "  calendar  cannot run"
    assert lines[2] == "            - no POST /events: meetings cannot be created in the CRM"
    assert lines[-1].startswith("            - due dates are read in UTC")
    unknown = reach_lines(connector_reach({}))
    assert unknown[1].startswith("            - not asked yet: GET /emails?rfc822MsgId=")
