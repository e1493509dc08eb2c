"""Which CRM calendar a user's meetings go to (several calendars per user): the pure rules."""

from __future__ import annotations

from brightsync.calendar.crm_calendars import CalendarScope, choose

CALENDARS = [
    {"id": "c1", "name": "Calendar", "ownerId": "u-a", "primary": True},
    {"id": "c2", "name": "Sales", "ownerId": "u-a", "primary": False},
    {"id": 3, "name": "Personal", "ownerId": "u-a", "primary": False},
]


def test_choose_by_primary_id_or_name():
    assert choose(CALENDARS, "primary") == ("c1", True)
    assert choose(CALENDARS, " PRIMARY ") == ("c1", True)
    assert choose(CALENDARS, "c2") == ("c2", True)
    assert choose(CALENDARS, "3") == ("3", True)  # numeric ids compare as strings
    assert choose(CALENDARS, " sales ") == ("c2", True)
    # A calendar the user lacks: their primary, and the caller is told.
    assert choose(CALENDARS, "Marketing") == ("c1", False)


def test_choose_without_a_primary_or_any_calendar():
    only = [{"id": "x", "name": "Mine", "primary": None}]
    assert choose(only, "primary") == ("x", True)
    assert choose(CALENDARS[1:], "primary") == (None, False)
    assert choose([], "Sales") == (None, False)
    assert choose([{"id": ""}, "junk", {"name": "no id"}], "primary") == (None, False)  # type: ignore[list-item]


def test_scope_says_whose_an_event_is():
    scope = CalendarScope.of(CALENDARS, "Sales")
    assert scope.chosen == "c2" and scope.others == {"c1", "3"} and scope.found
    assert scope.says({"calendarId": "c2"}) is True
    assert scope.says({"calendarId": "c1"}) is False  # their primary, not the chosen one
    assert scope.says({"calendarId": 3}) is False
    assert scope.says({"calendarId": "someone-elses"}) is None
    assert scope.says({}) is None and scope.says({"calendarId": None}) is None


def test_an_empty_scope_says_nothing():
    scope = CalendarScope.of([], "primary")
    assert scope.chosen is None and scope.others == frozenset()
    assert scope.says({"calendarId": "c1"}) is None
    assert CalendarScope().says({"calendarId": "c1"}) is None
