"""Meetings across calendars: one meeting, a copy in every invited account's calendar.

Like a real calendar server: every registered invitee's calendar holds its own copy (own
event id and etag, same iCalUid); the organizer's changes reach every copy; an invitee cannot
change or delete the shared meeting through the API (403) — their copy changes only by their
own answer. Series masters may carry occurrence exceptions (moved or cancelled).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from brightsync.sandbox.aurinko import records as R
from brightsync.sandbox.aurinko.items import create_record, update_record
from brightsync.sandbox.aurinko.model import Account
from brightsync.sandbox.aurinko.records import ApiFailure, bad_request
from brightsync.sandbox.aurinko.state import AurinkoSimulator

# What the organizer's edit carries to the invitees' copies (never their own answers).
_SHARED = ("subject", "description", "location", "start", "end", "recurrence", "sensitivity")


def _invitees(record: Mapping[str, Any]) -> list[str]:
    info = record.get("meetingInfo") or {}
    out = []
    for att in info.get("attendees") or []:
        addr = ((att or {}).get("emailAddress") or {}).get("address")
        if isinstance(addr, str) and addr.strip():
            out.append(addr.strip().lower())
    return out


def organizer_of(record: Mapping[str, Any]) -> str | None:
    addr = ((record.get("organizer") or {}).get("emailAddress") or {}).get("address")
    return addr.strip().lower() if isinstance(addr, str) else None


def _accounts_by_email(sim: AurinkoSimulator) -> dict[str, Account]:
    return {a.email.lower(): a for a in sim.accounts.values()}


def _copies(sim: AurinkoSimulator, ical_uid: str) -> list[tuple[Account, dict[str, Any]]]:
    """Every live copy (masters and single events, not exceptions) of a meeting."""
    out = []
    for account in sim.accounts.values():
        feed = account.feeds.get(sim.feed_key(account, "calendar"))
        for item in feed.live() if feed else []:
            rec = item.record
            if rec.get("iCalUid") == ical_uid and rec.get("recurrenceType") != "occurrence":
                out.append((account, rec))
    return out


def put_meeting(sim: AurinkoSimulator, data: Mapping[str, Any]) -> dict[str, Any]:
    """Create a meeting in the organizer's calendar and a copy in each registered invitee's."""
    found = R.address(data.get("organizer"))
    if found is None:
        raise bad_request("organizer.address is required")
    organizer = found["address"].lower()
    body = {k: copy.deepcopy(v) for k, v in data.items() if k not in ("organizer", "responses")}
    body["organizer"] = {"emailAddress": {"address": organizer}}
    body.setdefault("iCalUid", f"{uuid.uuid4().hex}@sandbox.brightsync.test")
    if body.get("recurrence"):
        body["recurrenceType"] = "master"
    responses = data.get("responses") or {}
    with sim.lock:
        accounts = _accounts_by_email(sim)
        copies: dict[str, str] = {}
        for addr in [organizer, *_invitees(body)]:
            account = accounts.get(addr)
            if account is None or addr in copies:
                continue
            mine = copy.deepcopy(body)
            for att in (mine.get("meetingInfo") or {}).get("attendees") or []:
                who = (att.get("emailAddress") or {}).get("address", "").lower()
                if who in responses:
                    att["response"] = responses[who]
            record = create_record(sim, account, "calendar", None, mine, mailbox=True)
            copies[addr] = record["id"]
        return {"iCalUid": body["iCalUid"], "copies": copies}


def update_meeting(sim: AurinkoSimulator, ical_uid: str, body: Mapping[str, Any]) -> dict[str, str]:
    """The organizer changed the meeting: every copy changes the same way."""
    with sim.lock:
        copies = _copies(sim, ical_uid)
        if not copies:
            raise ApiFailure(404, "notFound", f"meeting {ical_uid}")
        out = {}
        for account, rec in copies:
            updated = update_record(
                sim, account, "calendar", None, rec["id"], dict(body), if_match=None, mailbox=True
            )
            out[account.email.lower()] = updated["id"]
        return out


def put_occurrence(sim: AurinkoSimulator, ical_uid: str, data: Mapping[str, Any]) -> dict[str, str]:
    """An exception of a series in every copy: `type` modified (with its new start/end) or
    deleted, identified by `originalStart`."""
    kind = data.get("type") or "modified"
    if kind not in ("modified", "deleted") or not isinstance(data.get("originalStart"), dict):
        raise bad_request("an occurrence needs originalStart and type modified|deleted")
    with sim.lock:
        masters = [(a, r) for a, r in _copies(sim, ical_uid) if r.get("recurrenceType") == "master"]
        if not masters:
            raise ApiFailure(404, "notFound", f"series {ical_uid}")
        out = {}
        for account, master in masters:
            body = {k: copy.deepcopy(master[k]) for k in _SHARED if k in master}
            body.pop("recurrence", None)
            for key in ("subject", "start", "end", "location", "description"):
                if key in data:
                    body[key] = copy.deepcopy(data[key])
            if kind == "deleted":
                body["start"] = body["end"] = copy.deepcopy(data["originalStart"])
            body.update(
                organizer=copy.deepcopy(master.get("organizer")),
                meetingInfo=copy.deepcopy(master.get("meetingInfo") or {}),
                iCalUid=ical_uid,
                recurrenceType="occurrence",
                occurrenceInfo={
                    "type": kind,
                    "originalStart": copy.deepcopy(data["originalStart"]),
                    "masterId": master["id"],
                },
            )
            record = create_record(sim, account, "calendar", None, body, mailbox=True)
            out[account.email.lower()] = record["id"]
        return out


def check_api_write(sim: AurinkoSimulator, account: Account, event_id: str) -> None:
    """Only the organizer changes a shared meeting: an invitee's API write is refused."""
    with sim.lock:
        feed = account.feeds.get(sim.feed_key(account, "calendar"))
        item = feed.items.get(event_id) if feed else None
        if item is None or item.deleted:
            return
        organizer = organizer_of(item.record)
        if organizer and organizer != account.email.lower() and _invitees(item.record):
            raise ApiFailure(403, "forbidden", "only the organizer can change this meeting")


def propagate(
    sim: AurinkoSimulator, account: Account, record: Mapping[str, Any], deleted: bool
) -> None:
    """The organizer's API change reaches the invitees' copies (created when new)."""
    if organizer_of(record) != account.email.lower():
        return
    ical_uid = record.get("iCalUid")
    if not ical_uid or record.get("recurrenceType") == "occurrence":
        return
    with sim.lock:
        held = {a.email.lower(): (a, r) for a, r in _copies(sim, ical_uid) if a is not account}
        if deleted:
            for other, rec in held.values():
                info = copy.deepcopy(rec.get("meetingInfo") or {})
                info["canceled"] = True
                update_record(
                    sim,
                    other,
                    "calendar",
                    None,
                    rec["id"],
                    {"meetingInfo": info},
                    if_match=None,
                    mailbox=True,
                )
            return
        accounts = _accounts_by_email(sim)
        shared = {k: copy.deepcopy(record[k]) for k in _SHARED if k in record}
        shared["meetingInfo"] = copy.deepcopy(record.get("meetingInfo") or {})
        for addr in _invitees(record):
            if addr == account.email.lower():
                continue
            if addr in held:
                other, rec = held[addr]
                update_record(
                    sim, other, "calendar", None, rec["id"], shared, if_match=None, mailbox=True
                )
            elif addr in accounts:
                body = {
                    **shared,
                    "organizer": copy.deepcopy(record.get("organizer")),
                    "iCalUid": ical_uid,
                }
                create_record(sim, accounts[addr], "calendar", None, body, mailbox=True)


def series_info(sim: AurinkoSimulator, account: Account, master_id: str) -> dict[str, Any]:
    """GET …/events/{masterId}/series: the pattern and the series' exceptions."""
    with sim.lock:
        feed = account.feeds.get(sim.feed_key(account, "calendar"))
        master = feed.items.get(master_id) if feed else None
        if master is None or master.deleted or master.record.get("recurrenceType") != "master":
            raise ApiFailure(404, "notFound", f"series {master_id}")
        modified, deleted = [], []
        for item in feed.live():
            info = item.record.get("occurrenceInfo") or {}
            if info.get("masterId") != master_id:
                continue
            out = {
                "id": item.id,
                "type": info.get("type"),
                "originalStart": copy.deepcopy(info.get("originalStart")),
                "start": copy.deepcopy(item.record.get("start")),
                "masterId": master_id,
            }
            (deleted if info.get("type") == "deleted" else modified).append(out)
        return R.clean(
            {
                "id": master_id,
                "recurrence": copy.deepcopy(master.record.get("recurrence")),
                "modifiedOccurrences": modified,
                "deletedOccurrences": deleted,
            }
        )
