"""Marshmallow schemas of every object of the CRM connector contract (docs/connector.md).

One set of schemas serves three readers:

- the reference CRM (`brightsync.sandbox.crm`) validates request bodies with them (`load`);
- `brightsync connector check` validates a provider's responses with `record_problems`
  (`brightsync.connector.validation`);
- `brightsync.connector.openapi` turns them into the OpenAPI document of the contract.

Field metadata `x_brightsync_required=True` marks the fields a connector must carry in its
responses (the seed documents' "minimal fields"); apispec renders it as
`x-brightsync-required: true`. Marshmallow's own `required=True` is about request bodies: what
the reference CRM refuses to create without.

Timestamps are ISO 8601 with an offset (`AwareDateTime`); ids are strings, but numeric ids are
accepted (`Id`) because many business systems number their records.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

REQUIRED = "x_brightsync_required"


def _meta(description: str, *, must: bool = False, read_only: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"description": description}
    if must:
        meta[REQUIRED] = True
    if read_only:
        meta["readOnly"] = True
    return meta


class Id(fields.String):
    """A record id: a string, or an integer (kept as sent; rendered as a string in OpenAPI)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        result = super()._deserialize(value, attr, data, **kwargs)
        if result == "":
            raise ValidationError("Must not be empty.")
        return result

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return super()._serialize(value, attr, obj, **kwargs)


def _str(description: str, **kw: Any) -> fields.String:
    must = kw.pop("must", False)
    return fields.String(allow_none=True, metadata=_meta(description, must=must), **kw)


def _strings(description: str, *, must: bool = False) -> fields.List:
    return fields.List(fields.String(), allow_none=True, metadata=_meta(description, must=must))


def _ids(description: str, *, must: bool = False) -> fields.List:
    return fields.List(Id(), allow_none=True, metadata=_meta(description, must=must))


def _when(description: str, *, must: bool = False, read_only: bool = False) -> fields.Field:
    return fields.AwareDateTime(
        format="iso", allow_none=True, metadata=_meta(description, must=must, read_only=read_only)
    )


def _bool(description: str) -> fields.Boolean:
    return fields.Boolean(
        truthy={True}, falsy={False}, allow_none=True, metadata=_meta(description)
    )


def _id(description: str = "The record's id in the business system.") -> Id:
    # Set by the connector: ignored in request bodies, always present in responses.
    return Id(allow_none=False, metadata=_meta(description, must=True, read_only=True))


def _modified() -> fields.Field:
    return _when(
        "Set by the connector on every change; `since` queries compare against it (inclusive).",
        read_only=True,
    )


class ContractSchema(Schema):
    """Base: connectors may return more fields than these, so unknown fields are dropped.

    Request validation wants the opposite: `strict_schema()` refuses unknown fields at every
    level (the reference CRM uses it, so a misspelt field name fails loudly).
    """

    class Meta:
        unknown = EXCLUDE


class RelatedToSchema(ContractSchema):
    contacts = _ids("Contact ids the record is logged against.")
    companies = _ids("Company (account) ids.")
    opportunities = _ids("Opportunity (deal) ids.")
    leads = _ids("Lead ids: people not yet contacts (sent only when there are any).")


class AttachmentSchema(ContractSchema):
    """A file of a logged email. BrightSync sends `content` (base64) with a file, or uploads
    it separately (`emails.attach`); a connector need not echo `content` back."""

    id = Id(
        allow_none=True,
        metadata=_meta("Set by the connector: the file's id (`emails.download`).", read_only=True),
    )
    name = _str("File name.")
    contentType = _str("MIME type, e.g. application/pdf.")
    mimeType = _str("The same as contentType (the field's earlier name).")
    size = fields.Integer(strict=True, allow_none=True, metadata=_meta("Size in bytes."))
    inline = _bool("True for inline parts (images referenced by the HTML body).")
    contentId = _str("Content-ID of an inline part.")
    content = _str("The content, base64-encoded (absent when `missing`, or left out).")
    missing = _bool(
        "True: the file belongs to the email but its content is not here (yet): BrightSync "
        "could not fetch it and sends it later (an upload, or a PATCH of `attachments`)."
    )
    reason = _str(
        "Why the content is not here: missing, larger than the organisation's limit, "
        "or metadata only by the organisation's settings."
    )


class EmailSchema(ContractSchema):
    """A logged email (seed: email-sync-api-requirements.md). Subject and body at least."""

    id = _id()
    msgId = _str("The mailbox provider's message id (Gmail, Outlook).")
    syncThreadId = _str("BrightSync's global thread id: groups related messages.")
    inReplyTo = _str("Message-ID of the email this one replies to.")
    receivedAt = _when("When the message was received.")
    rfc822MsgId = _str("The Internet Message-ID header; the idempotency key of email logging.")
    subject = _str("Subject.")
    fromAddress = _str("Sender address.")
    fromName = _str("Sender display name.")
    toAddresses = _strings("Recipient addresses.")
    ccAddresses = _strings("Cc addresses.")
    bccAddresses = _strings("Bcc addresses.")
    textBody = _str("Plain-text body.")
    htmlBody = _str("HTML body.")
    attachments = fields.List(
        fields.Nested(AttachmentSchema), allow_none=True, metadata=_meta("Attachments.")
    )
    relatedTo = fields.Nested(
        RelatedToSchema, allow_none=True, metadata=_meta("Records the email is logged against.")
    )


class ContactSchema(ContractSchema):
    """A contact (person outside the organisation). The first four fields are the minimum."""

    id = _id()
    firstName = _str("First name.", must=True)
    lastName = _str("Last name.", must=True)
    emailAddresses = _strings(
        "Every known address (primary first); lookups match any of them, case-insensitively.",
        must=True,
    )
    # "If applicable": a contact without a company may send null or leave the field out.
    companyId = Id(allow_none=True, metadata=_meta("The contact's company, if any (optional)."))
    phoneNumbers = _strings("Phone numbers.")
    title = _str("Job title.")
    notes = _str("Free-text notes (two-way contacts sync).")
    ownerId = Id(
        allow_none=True,
        metadata=_meta("CRM user id of the owner; the contacts sync takes a user's own."),
    )
    lastModifiedAt = _modified()

    @validates_schema
    def _has_identity(self, data: dict[str, Any], **kwargs: Any) -> None:
        if kwargs.get("partial"):
            return
        if not (data.get("firstName") or data.get("lastName") or data.get("emailAddresses")):
            raise ValidationError(
                "A contact needs a name or at least one email address.", "emailAddresses"
            )


class LeadSchema(ContractSchema):
    """A lead: a person the business system knows but who is not a contact yet. Mail and
    meetings with a lead (and no contact) are logged against it."""

    id = _id()
    firstName = _str("First name.", must=True)
    lastName = _str("Last name.", must=True)
    emailAddresses = _strings(
        "Every known address; lookups match any of them, case-insensitively.", must=True
    )
    company = _str("The company the lead named (free text).")


class CompanySchema(ContractSchema):
    id = _id()
    name = fields.String(required=True, metadata=_meta("Company name.", must=True))
    domains = _strings("Web/email domains, e.g. example.com.", must=True)


class OpportunitySchema(ContractSchema):
    id = _id()
    name = fields.String(required=True, metadata=_meta("Deal name.", must=True))
    stage = _str("Pipeline stage.")
    isClosed = fields.Boolean(
        truthy={True},
        falsy={False},
        allow_none=True,
        metadata=_meta("Won or lost: closed deals are not matched.", must=True),
    )
    companyId = Id(allow_none=True, metadata=_meta("The deal's company."))
    contactIds = _ids("Contacts on the deal.", must=True)
    closeDate = fields.Date(allow_none=True, metadata=_meta("Expected or actual close date."))
    lastModifiedAt = _when(
        "Last change; the most recently modified open deal wins a match.", must=True
    )


class AttendeeSchema(ContractSchema):
    userId = Id(allow_none=True, metadata=_meta("CRM user id of an internal attendee."))
    emailAddress = _str("Attendee address.")
    contactId = Id(allow_none=True, metadata=_meta("CRM contact id of an external attendee."))
    status = _str("RSVP status: accepted, declined, tentative, needsAction.")


class EventSchema(ContractSchema):
    """A calendar event (seed: calendar-sync-api-requirements.md)."""

    id = _id()
    subject = _str("Title.")
    description = _str("Description or agenda.")
    startTime = fields.AwareDateTime(
        format="iso", required=True, metadata=_meta("Start.", must=True)
    )
    endTime = fields.AwareDateTime(format="iso", required=True, metadata=_meta("End.", must=True))
    location = _str("Physical or virtual location.")
    allDay = _bool("Spans whole days.")
    private = _bool("Details hidden from others.")
    attendees = fields.List(
        fields.Nested(AttendeeSchema), allow_none=True, metadata=_meta("Participants.")
    )
    parentId = Id(
        allow_none=True,
        metadata=_meta(
            "Parent meeting, for CRMs that store one child event per attendee: BrightSync reads "
            "a parent and its children as one meeting and writes to the parent only."
        ),
    )
    calendarId = Id(
        allow_none=True,
        metadata=_meta(
            "The calendar holding the event (CRMs with several calendars per user, see "
            "GET /calendars); absent or null: its owner's primary calendar."
        ),
    )
    relatedTo = fields.Nested(
        RelatedToSchema, allow_none=True, metadata=_meta("Records the meeting is logged against.")
    )
    lastModifiedAt = _modified()

    @validates_schema
    def _ends_after_start(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("startTime"), data.get("endTime")
        if start is not None and end is not None and end < start:
            raise ValidationError("endTime is before startTime.", "endTime")


class CalendarSchema(ContractSchema):
    """One of a user's calendars (optional: CRMs with several calendars per user)."""

    id = _id()
    name = fields.String(required=True, metadata=_meta("Display name, e.g. Sales.", must=True))
    ownerId = Id(
        allow_none=True,
        metadata=_meta("CRM user id of the owner (null: a shared calendar).", must=True),
    )
    primary = fields.Boolean(
        truthy={True},
        falsy={False},
        allow_none=True,
        metadata=_meta(
            "The owner's default calendar: where an event without `calendarId` goes.", must=True
        ),
    )


class TaskSchema(ContractSchema):
    id = _id()
    ownerId = Id(allow_none=True, metadata=_meta("CRM user id of the owner."))
    subject = fields.String(required=True, metadata=_meta("Title.", must=True))
    description = _str("Notes.")
    status = _str("notStarted, inProgress, completed, waitingOnOthers or deferred.")
    priority = _str("low, normal or high.")
    dueDate = _when("Due date and time.")
    completedAt = _when("When it was completed.")
    relatedTo = fields.Nested(
        RelatedToSchema, allow_none=True, metadata=_meta("Records the task is attached to.")
    )
    lastModifiedAt = _modified()


class UserSchema(ContractSchema):
    """An internal user of the business system (mailbox owners, internal attendees)."""

    id = _id()
    orgId = Id(allow_none=True, metadata=_meta("The tenant the user belongs to."))
    name = _str("Display name.")
    email = fields.String(required=True, metadata=_meta("Login / mailbox address.", must=True))
    timezone = _str("IANA time zone, e.g. Europe/Berlin.")


class DeletedRecordSchema(ContractSchema):
    """An entry of deletedContacts / deletedEvents / deletedTasks."""

    id = Id(required=True, metadata=_meta("Id of the deleted record.", must=True))
    deletedAt = _when("When it was deleted (`since` compares against it, inclusive).", must=True)


class DeletedEntrySchema(ContractSchema):
    """An entry of a `?since=` list asked with `showDeleted=true`: a record deleted since
    then. BrightSync reads `deleted: true`, `isDeleted: true` or a `deletedAt` alike, and never
    takes such an entry (in any answer) for a live record."""

    id = Id(required=True, metadata=_meta("Id of the deleted record.", must=True))
    deleted = fields.Boolean(metadata=_meta("true: the record was deleted.", must=True))
    isDeleted = fields.Boolean(metadata=_meta("The same as `deleted` (either is read)."))
    deletedAt = _when("When it was deleted (the same as `deleted: true`).")
    lastModifiedAt = _when("When it was deleted (`since` compares against it, inclusive).")


class ErrorSchema(ContractSchema):
    """Error body; BrightSync records `message` against the record that failed."""

    error = fields.String(metadata=_meta("Short machine-readable code."))
    message = fields.String(metadata=_meta("Human-readable explanation."))
    fields_ = fields.Dict(
        data_key="fields", metadata=_meta("Validation errors per field (400 only).")
    )


def page_schema(item: type[Schema]) -> type[Schema]:
    """`{records: [item], nextPageToken}`: a page of a token-paged list."""
    name = item.__name__.removesuffix("Schema") + "PageSchema"
    return type(
        name,
        (ContractSchema,),
        {
            "records": fields.List(
                fields.Nested(item), required=True, metadata=_meta("This page.", must=True)
            ),
            "nextPageToken": _str("Pass as `pageToken` for the next page; null on the last."),
            "__doc__": f"A page of {item.__name__.removesuffix('Schema')} records.",
        },
    )


#: The schema of each resource, by the collection name used in paths and the reference CRM.
SCHEMAS: dict[str, type[Schema]] = {
    "emails": EmailSchema,
    "contacts": ContactSchema,
    "companies": CompanySchema,
    "opportunities": OpportunitySchema,
    "events": EventSchema,
    "calendars": CalendarSchema,
    "tasks": TaskSchema,
    "users": UserSchema,
    "leads": LeadSchema,
}

#: Resources whose records carry a connector-maintained `lastModifiedAt`.
MODIFIED_TRACKED = frozenset({"contacts", "events", "tasks"})
