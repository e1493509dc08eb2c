"""The calendar list of CRMs with several calendars per user (`GET /calendars`, optional)."""

from __future__ import annotations

from brightsync.connector.checks.run import CheckRun
from brightsync.connector.contract import API
from brightsync.connector.probe import Failed, shape


def calendars_list(run: CheckRun) -> str:
    """Calendars by owner: nobody's are none, the credentials' user's fit the schema, belong
    to them, and at most one is their primary."""
    path = f"{API}/calendars"
    nobody = f"nobody-{run.id}"
    if run.probe.get_list(path, {"ownerId": nobody}, what="calendar list"):
        raise Failed(f"the calendars of an unknown owner ({nobody}) are not empty")
    owner = str(run.me["id"]) if run.me and run.me.get("id") is not None else None
    found = run.probe.get_list(path, {"ownerId": owner} if owner else {}, what="calendar list")
    for record in found:
        shape("calendars", record, "calendar list answer")
    if owner is None:
        return f"lists {len(found)} calendars; owners not verified (no users/me)"
    strangers = [str(c.get("id")) for c in found if str(c.get("ownerId")) != owner]
    if strangers:
        raise Failed(f"ownerId={owner} also returned calendars of others: {strangers[:3]}")
    primaries = [str(c.get("id")) for c in found if c.get("primary") is True]
    if len(primaries) > 1:
        raise Failed(f"user {owner} has {len(primaries)} primary calendars: {primaries[:3]}")
    return f"lists the {len(found)} calendars of user {owner}"
