"""What a calendar run knows about its user and org: the CRM context plus calendar settings."""

from __future__ import annotations

from functools import cached_property

from brightsync.calendar.meetings import CalendarPolicy
from brightsync.crm.context import CrmContext
from brightsync.crm.context import load_context as load_crm_context
from brightsync.email.rules import EmailPolicy


class CalendarContext(CrmContext):
    @cached_property
    def policy(self) -> CalendarPolicy:
        return CalendarPolicy.from_settings(self.settings, self.org_domains)

    @cached_property
    def email_policy(self) -> EmailPolicy:
        """Contact auto-creation for external attendees follows the email settings' rules."""
        return EmailPolicy.from_settings(self.settings, self.org_domains)

    @property
    def notify_attendees(self) -> bool:
        return bool(self.settings.get("calendar", {}).get("notifyAttendees", False))

    @property
    def crm_calendar(self) -> str:
        """Which CRM calendar a user's meetings go to ("primary", an id or a name)."""
        return str(self.settings.get("calendar", {}).get("crmCalendar") or "primary")


def load_context(user_id: int) -> CalendarContext:
    return load_crm_context(user_id, CalendarContext)
