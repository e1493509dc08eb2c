"""One meeting, many attendees' calendars: one owner per organisation, the organizer's copy
wins, under real concurrency on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from brightsync.calendar import claims
from brightsync.db import session_scope
from brightsync.models import MeetingClaim, MeetingCopy
from tests.factories import make_org, make_user

KEY = "ical:weekly-review@acme.com"


def _claim(org_id, user_id, event_id, organizer=False):
    with session_scope() as s:
        return claims.claim_meeting(
            s, org_id=org_id, user_id=user_id, key=KEY, event_id=event_id, organizer=organizer
        )


def test_attendees_racing_agree_on_one_owner_and_the_organizer_takes_over(backend):
    org_id = make_org("meet")
    attendees = [make_user(org_id, f"att{i}") for i in range(6)]
    organizer = make_user(org_id, "boss")
    barrier = threading.Barrier(len(attendees))

    def race(user_id):
        barrier.wait()
        return _claim(org_id, user_id, f"ev-{user_id}")

    with ThreadPoolExecutor(len(attendees)) as pool:
        results = list(pool.map(race, attendees))
    assert sum(r.owned for r in results) == 1
    assert len({r.claim_id for r in results}) == 1
    first_owner = attendees[[r.owned for r in results].index(True)]
    with session_scope() as s:
        claims.set_crm_event(s, org_id, KEY, "crm-1")

    boss = _claim(org_id, organizer, "ev-boss", organizer=True)
    assert boss.owned and boss.taken_over and boss.crm_event_id == "crm-1"
    assert not _claim(org_id, first_owner, f"ev-{first_owner}").owned
    with session_scope() as s:
        assert claims.owned_keys(s, organizer, [KEY, "other"]) == {KEY}
        assert s.query(MeetingCopy).filter_by(org_id=org_id).count() == 7

    # The organizer's copy goes: an attendee's copy inherits; the last copy ends the claim.
    with session_scope() as s:
        heir = claims.copy_gone(s, org_id, organizer, KEY)
    assert heir in attendees
    for user_id in attendees:
        with session_scope() as s:
            claims.copy_gone(s, org_id, user_id, KEY)
    with session_scope() as s:
        assert s.query(MeetingClaim).filter_by(org_id=org_id).count() == 0
