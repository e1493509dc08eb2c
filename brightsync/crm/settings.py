"""An organisation's sync settings: their shape, defaults and validation.

Domain code reads settings through `effective_settings`; the admin API (web/schemas.py)
validates what comes in with the same models.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

DIRECTIONS = ["two-way", "to-crm", "to-mailbox", "off"]
TASK_STATUSES = ["notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"]


class Strict(Schema):
    class Meta:
        unknown = RAISE


class EmailSettings(Strict):
    # False: this mailbox's email sync reads and logs nothing (a per-user override, typically).
    enabled = fields.Boolean(load_default=True)
    logInternal = fields.Boolean(load_default=False)
    contactCreation = fields.String(
        load_default="none", validate=validate.OneOf(["none", "sent", "all"])
    )
    createCompanies = fields.Boolean(load_default=True)
    excludeDomains = fields.List(fields.String(validate=validate.Length(1, 253)), load_default=list)
    excludeAddresses = fields.List(
        fields.String(validate=validate.Length(3, 320)), load_default=list
    )
    skipBulk = fields.Boolean(load_default=True)
    # Mail marked private, personal or confidential is logged only when this is true.
    logPrivate = fields.Boolean(load_default=False)
    # How far back a mailbox's first sync reads; absent means the email sync's default (14).
    initialDays = fields.Integer(strict=True, validate=validate.Range(1, 3650))
    # Seconds a colleague's copy waits for the sender's own (the only one showing Bcc).
    senderCopyWaitSeconds = fields.Integer(
        load_default=180, strict=True, validate=validate.Range(0, 3600)
    )
    # Seconds an opportunity lookup is shared by every run (email and calendar); 0: never.
    # A deal created or changed in the CRM is related after at most this long.
    opportunityCacheSeconds = fields.Integer(
        load_default=60, strict=True, validate=validate.Range(0, 3600)
    )
    # Seconds the contacts a lookup found are shared by every run (email and calendar); 0:
    # never. Only with a connector offering GET /contacts?since=, whose changes the contact
    # watch sees and which then end the window early; a contact new to the CRM is matched
    # at once whatever this says (an address without a contact is never kept).
    contactCacheSeconds = fields.Integer(
        load_default=60, strict=True, validate=validate.Range(0, 3600)
    )
    # What a logged email carries of its attachment files: nothing, their metadata (name,
    # type, size), or the files themselves (inline images of the body are never sent).
    attachments = fields.String(
        load_default="files", validate=validate.OneOf(["none", "metadata", "files"])
    )
    # A larger file is logged by its metadata, with the reason.
    attachmentMaxBytes = fields.Integer(
        load_default=10 * 1024 * 1024, strict=True, validate=validate.Range(0, 1024**3)
    )


class CalendarSettings(Strict):
    direction = fields.String(load_default="two-way", validate=validate.OneOf(DIRECTIONS))
    conflict = fields.String(
        load_default="newest", validate=validate.OneOf(["newest", "crm", "mailbox"])
    )
    syncPrivate = fields.Boolean(load_default=False)
    syncInternal = fields.Boolean(load_default=False)  # meetings among colleagues only
    syncPersonal = fields.Boolean(load_default=False)  # events with nobody else invited
    notifyAttendees = fields.Boolean(load_default=False)  # on CRM-made changes
    # CRMs with several calendars per user (GET /calendars): the one a user's meetings go to,
    # "primary" or a calendar id or name (calendar/crm_calendars.py).
    crmCalendar = fields.String(load_default="primary", validate=validate.Length(1, 255))
    pastDays = fields.Integer(load_default=30, strict=True, validate=validate.Range(0, 3650))
    futureDays = fields.Integer(load_default=180, strict=True, validate=validate.Range(0, 3650))
    # Added to email's lists (never instead of them): an attendee on either keeps a meeting out.
    excludeDomains = fields.List(fields.String(validate=validate.Length(1, 253)), load_default=list)
    excludeAddresses = fields.List(
        fields.String(validate=validate.Length(3, 320)), load_default=list
    )


class ContactsSettings(Strict):
    direction = fields.String(load_default="two-way", validate=validate.OneOf(DIRECTIONS))
    conflict = fields.String(
        load_default="newest", validate=validate.OneOf(["newest", "crm", "mailbox"])
    )
    # Only mailbox contacts filed under this category sync (None: all of them).
    category = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 255))
    # A contact deleted in a mailbox also deletes a CRM contact that has logged mail.
    allowDeleteWithActivity = fields.Boolean(load_default=False)


class TasksSettings(Strict):
    direction = fields.String(load_default="two-way", validate=validate.OneOf(DIRECTIONS))
    skipCompleted = fields.Boolean(load_default=True)
    conflict = fields.String(
        load_default="newest", validate=validate.OneOf(["newest", "crm", "mailbox"])
    )
    list = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 500))
    # Optional CRM status -> mailbox status, for words the common vocabularies lack
    # (tasks/rules.py reads those without a map).
    statusMap = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 100)),
        values=fields.String(validate=validate.OneOf(TASK_STATUSES)),
        load_default=dict,
    )


class UnmatchedSettings(Strict):
    retentionDays = fields.Integer(load_default=30, strict=True, validate=validate.Range(1, 365))
    retryEveryHours = fields.Integer(
        load_default=24, strict=True, validate=validate.Range(1, 24 * 30)
    )


class OrgSettings(Strict):
    email = fields.Nested(EmailSettings, load_default=lambda: EmailSettings().load({}))
    calendar = fields.Nested(CalendarSettings, load_default=lambda: CalendarSettings().load({}))
    contacts = fields.Nested(ContactsSettings, load_default=lambda: ContactsSettings().load({}))
    tasks = fields.Nested(TasksSettings, load_default=lambda: TasksSettings().load({}))
    unmatched = fields.Nested(UnmatchedSettings, load_default=lambda: UnmatchedSettings().load({}))
    crm = fields.Dict(load_default=dict)  # connector overrides, e.g. {"capabilities": {...}}


def effective_settings(
    stored: dict[str, Any] | None, user: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Stored settings with every default filled in (stored values were validated on write);
    with `user`, that user's overrides deep-merged over the organisation's first."""
    return OrgSettings().load(deep_merge(stored or {}, user or {}))


# Sections that belong to the organisation as a whole: the sync cache's cadence and the
# connector's overrides are not a mailbox's to change.
ORG_ONLY = ("unmatched", "crm")


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`patch` over `base`, section by section; a None in `patch` removes that key."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            below = merged.get(key)
            merged[key] = deep_merge(below if isinstance(below, dict) else {}, value)
        else:
            merged[key] = value
    return merged


def user_overrides(
    current: dict[str, Any] | None, patch: dict[str, Any], org: dict[str, Any] | None
) -> dict[str, Any]:
    """A user's new overrides: `patch` merged into `current` (None removes an override),
    checked with the organisation's schema, alone and over the organisation's settings.
    Raises ValidationError naming the bad key."""
    merged = deep_merge(current or {}, patch)
    bad = {key: ["set for the organisation only"] for key in merged if key in ORG_ONLY}
    if bad:
        raise ValidationError(bad)
    given = OrgSettings().load(merged, partial=True)  # the keys and values given, normalised
    OrgSettings().load(deep_merge(org or {}, given))  # and what they make together
    return {k: v for k, v in given.items() if not (isinstance(v, dict) and not v)}
