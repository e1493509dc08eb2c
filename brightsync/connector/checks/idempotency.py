"""The recommended Idempotency-Key on creates: the same key again answers the original
record (reported, never required)."""

from __future__ import annotations

from brightsync.connector.checks import contacts, emails
from brightsync.connector.checks.run import CheckRun
from brightsync.connector.contract import API
from brightsync.connector.probe import NotOffered, Skipped
from brightsync.connector.report import PASS


def idempotency_key(run: CheckRun) -> str:
    """Recommended: the same Idempotency-Key on a second create answers the first record."""
    passed = {r.name for r in run.report.results if r.status == PASS}
    if "contacts.create" in passed:
        resource, payload = "contacts", contacts.contact_payload(run, "idem")
        first_role, second_role = "contact3", "contact4"
    elif "emails.create" in passed:
        resource, payload = "emails", {**emails.email_payload(run), "msgId": f"idem-{run.id}"}
        first_role, second_role = "email2", "email3"
    else:
        raise Skipped("not tried: needs contacts.create or emails.create to pass")
    key = f"brightsync-check-{run.id}"
    first = run.created(resource, payload, first_role, key)
    second = run.created(resource, payload, second_role, key)
    if str(second["id"]) != str(first["id"]):
        raise NotOffered(
            f"a second POST {API}/{resource} with the same Idempotency-Key made another "
            f"record ({second['id']} after {first['id']}); recommended: answer it with "
            "the original"
        )
    run.records.pop(second_role)
    return f"a repeated POST {API}/{resource} with the same key answers the original record"
