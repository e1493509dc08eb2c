"""Marshmallow schemas of the admin API: what comes in is validated here, field by field."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from brightsync.models import SERVICES

DIRECTIONS = ["two-way", "to-crm", "to-mailbox", "off"]


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class EmailSettings(_Strict):
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


class CalendarSettings(_Strict):
    direction = fields.String(load_default="two-way", validate=validate.OneOf(DIRECTIONS))
    syncPrivate = fields.Boolean(load_default=False)
    pastDays = fields.Integer(load_default=30, validate=validate.Range(0, 3650))
    futureDays = fields.Integer(load_default=180, validate=validate.Range(0, 3650))


class ContactsSettings(_Strict):
    direction = fields.String(load_default="two-way", validate=validate.OneOf(DIRECTIONS))
    conflict = fields.String(
        load_default="newest", validate=validate.OneOf(["newest", "crm", "mailbox"])
    )


class TasksSettings(_Strict):
    direction = fields.String(load_default="two-way", validate=validate.OneOf(DIRECTIONS))
    skipCompleted = fields.Boolean(load_default=True)


class UnmatchedSettings(_Strict):
    retentionDays = fields.Integer(load_default=30, validate=validate.Range(1, 365))
    retryEveryHours = fields.Integer(load_default=24, validate=validate.Range(1, 24 * 30))


class OrgSettings(_Strict):
    email = fields.Nested(EmailSettings, load_default=lambda: EmailSettings().load({}))
    calendar = fields.Nested(CalendarSettings, load_default=lambda: CalendarSettings().load({}))
    contacts = fields.Nested(ContactsSettings, load_default=lambda: ContactsSettings().load({}))
    tasks = fields.Nested(TasksSettings, load_default=lambda: TasksSettings().load({}))
    unmatched = fields.Nested(UnmatchedSettings, load_default=lambda: UnmatchedSettings().load({}))
    crm = fields.Dict(load_default=dict)  # connector overrides, e.g. {"capabilities": {...}}


def effective_settings(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Stored settings with every default filled in (stored values were validated on write)."""
    return OrgSettings().load(stored or {})


class CrmConnection(_Strict):
    baseUrl = fields.Url(required=True, require_tld=False, schemes={"http", "https"})
    authType = fields.String(required=True, validate=validate.OneOf(["bearer", "basic"]))
    token = fields.String(validate=validate.Length(1, 2000))
    username = fields.String(validate=validate.Length(1, 500))
    password = fields.String(validate=validate.Length(1, 2000))

    @validates_schema
    def _credentials(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("authType") == "bearer" and not data.get("token"):
            raise ValidationError("bearer auth needs a token", "token")
        if data.get("authType") == "basic" and not (data.get("username") and data.get("password")):
            raise ValidationError("basic auth needs username and password", "username")


def _domain(value: str) -> None:
    value = value.strip().lower()
    if "." not in value or " " in value or "@" in value or len(value) > 253:
        raise ValidationError(f"{value!r} is not a domain name")


class OrgCreate(_Strict):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    domains = fields.List(
        fields.String(validate=_domain), required=True, validate=validate.Length(min=1)
    )
    crm = fields.Nested(CrmConnection, required=True)
    settings = fields.Nested(OrgSettings, load_default=lambda: OrgSettings().load({}))


class OrgPatch(_Strict):
    name = fields.String(validate=validate.Length(1, 200))
    domains = fields.List(fields.String(validate=_domain), validate=validate.Length(min=1))
    crm = fields.Nested(CrmConnection)
    settings = fields.Dict()  # merged into the stored settings, then validated as OrgSettings


class UserCreate(_Strict):
    email = fields.Email(required=True)
    crmUserId = fields.String(load_default=None, validate=validate.Length(1, 200))
    aurinkoAccountId = fields.Raw(required=True)
    aurinkoAccessToken = fields.String(required=True, validate=validate.Length(1, 4000))
    services = fields.List(
        fields.String(validate=validate.OneOf(SERVICES)), load_default=lambda: ["email"]
    )

    @validates_schema
    def _account_id(self, data: dict[str, Any], **_: Any) -> None:
        value = data.get("aurinkoAccountId")
        if isinstance(value, bool) or not isinstance(value, int | str) or str(value) == "":
            raise ValidationError("must be an Aurinko account id", "aurinkoAccountId")


class SyncRequest(_Strict):
    service = fields.String(validate=validate.OneOf(SERVICES), load_default=None)


# Response shapes, for the OpenAPI document.
class OrgOut(Schema):
    id = fields.Integer()
    name = fields.String()
    domains = fields.List(fields.String())
    crm = fields.Dict(metadata={"description": "baseUrl and authType; secrets never returned"})
    settings = fields.Dict()
    createdAt = fields.DateTime()


class ServiceStatus(Schema):
    state = fields.String()
    lastSyncAt = fields.DateTime(allow_none=True)
    lastError = fields.String(allow_none=True)
    lastErrorAt = fields.DateTime(allow_none=True)
    runs = fields.Integer()
    counts = fields.Dict()
    progress = fields.Dict(
        allow_none=True, metadata={"description": "counts so far, while running"}
    )
    subscription = fields.Dict(allow_none=True)


class UserOut(Schema):
    id = fields.Integer()
    orgId = fields.Integer()
    email = fields.String()
    crmUserId = fields.String(allow_none=True)
    aurinkoAccountId = fields.String()
    services = fields.List(fields.String())
    mailbox = fields.Dict()
    status = fields.Dict(keys=fields.String(), values=fields.Nested(ServiceStatus))


class UnmatchedOut(Schema):
    kind = fields.String()
    key = fields.String()
    subject = fields.String(allow_none=True)
    addresses = fields.List(fields.String())
    reason = fields.String()
    attempts = fields.Integer()
    nextRetryAt = fields.DateTime()
    expiresAt = fields.DateTime()
    userId = fields.Integer()


class EmailDecisionOut(Schema):
    rfc822MsgId = fields.String()
    logged = fields.Boolean()
    state = fields.String()
    reason = fields.String(allow_none=True)
    crmEmailId = fields.String(allow_none=True)
    syncThreadId = fields.String(allow_none=True)
    relatedTo = fields.Dict(allow_none=True)
    direction = fields.String(metadata={"description": "sent | received | internal"})
    loggedBy = fields.Integer(allow_none=True, metadata={"description": "the owning mailbox"})
    seenBy = fields.List(fields.Integer())
    mailboxes = fields.List(
        fields.Dict(),
        metadata={"description": "each mailbox that held it, with why its copy was not used"},
    )
    attempts = fields.Integer()
    syncCache = fields.Dict(metadata={"description": "present while waiting in the sync cache"})
    decidedAt = fields.DateTime(allow_none=True)
