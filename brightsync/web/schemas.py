"""Marshmallow schemas of the admin API: what comes in is validated here, field by field."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from brightsync.config import get_settings
from brightsync.crm.settings import OrgSettings
from brightsync.crm.settings import Strict as _Strict
from brightsync.domains import SERVICES
from brightsync.models import MODES

_MODE = {
    "validate": validate.OneOf(MODES),
    "metadata": {"description": "review: syncs record what they would do and write nothing"},
}


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _crm_url(value: str) -> None:
    """CRM credentials travel with every request: https, except to this machine (a connector
    beside the service) or where the operator allows plain http on a private network."""
    parts = urlsplit(value)
    if parts.scheme == "https" or is_loopback(parts.hostname):
        return
    if get_settings().allow_insecure_crm:
        return
    raise ValidationError(
        "must be an https URL (plain http is accepted only on loopback, or everywhere with "
        "BRIGHTSYNC_ALLOW_INSECURE_CRM=true)"
    )


class CrmConnection(_Strict):
    baseUrl = fields.Url(
        required=True, require_tld=False, schemes={"http", "https"}, validate=_crm_url
    )
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
    mode = fields.String(load_default="live", **_MODE)


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
    mode = fields.String(load_default="live", **_MODE)

    @validates_schema
    def _account_id(self, data: dict[str, Any], **_: Any) -> None:
        value = data.get("aurinkoAccountId")
        if isinstance(value, bool) or not isinstance(value, int | str) or str(value) == "":
            raise ValidationError("must be an Aurinko account id", "aurinkoAccountId")


class UserPatch(_Strict):
    """What may change about a registered user: its token (reconnect), services, CRM user and
    its own settings."""

    services = fields.List(
        fields.String(validate=validate.OneOf(SERVICES)),
        metadata={
            "description": "the services to sync: one turned off stops at once (its Aurinko "
            "subscription deleted, its cursors kept for a return); one turned on is "
            "subscribed and synced at once"
        },
    )
    crmUserId = fields.String(allow_none=True, validate=validate.Length(1, 200))
    settings = fields.Dict(
        allow_none=True,
        metadata={
            "description": "this user's overrides of the organisation's settings, same shape "
            "(sections email, calendar, contacts, tasks), deep-merged into the stored overrides; "
            "null removes an override, null for the whole object removes them all"
        },
    )
    aurinkoAccessToken = fields.String(
        validate=validate.Length(1, 4000),
        metadata={
            "description": "a new Aurinko access token for the same account: clears "
            "needs_reauth and resumes every service from its saved cursors"
        },
    )

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("nothing to change", "_body")


class ModeRequest(_Strict):
    mode = fields.String(required=True, **_MODE)


class HeldDecisionRequest(_Strict):
    ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1)),
        required=True,
        validate=validate.Length(1, 500),
        metadata={"description": "held deletion ids (from GET …/held-deletions)"},
    )


class SyncRequest(_Strict):
    service = fields.String(validate=validate.OneOf(SERVICES), load_default=None)


# Response shapes, for the OpenAPI document.
class OrgOut(Schema):
    id = fields.Integer()
    name = fields.String()
    domains = fields.List(fields.String())
    crm = fields.Dict(metadata={"description": "baseUrl and authType; secrets never returned"})
    settings = fields.Dict()
    mode = fields.String(metadata={"description": "live | review"})
    createdAt = fields.DateTime()


class ServiceStatus(Schema):
    state = fields.String(metadata={"description": "run state: never|idle|queued|running|error"})
    health = fields.String(
        metadata={"description": "initialising | review | active | paused | needs_reauth | failing"}
    )
    paused = fields.Boolean()
    nextRunAt = fields.DateTime(
        allow_none=True,
        metadata={"description": "latest time of the next run; null while paused or reauth"},
    )
    lastErrorCause = fields.String(allow_none=True, metadata={"description": "which side, why"})
    lastSyncAt = fields.DateTime(allow_none=True)
    lastError = fields.String(allow_none=True)
    lastErrorAt = fields.DateTime(allow_none=True)
    runs = fields.Integer()
    counts = fields.Dict()
    progress = fields.Dict(
        allow_none=True, metadata={"description": "counts so far, while running"}
    )
    firstSync = fields.String(
        metadata={
            "description": "waiting | running | done: the service's first sync, started "
            "as soon as its subscription is settled"
        }
    )
    subscription = fields.Dict(allow_none=True)


class UserOut(Schema):
    id = fields.Integer()
    settings = fields.Dict(
        metadata={"description": "this user's overrides of the organisation's settings"}
    )
    effectiveSettings = fields.Dict(
        metadata={"description": "what its runs use: the overrides over the organisation's"}
    )
    paused = fields.Boolean()
    mode = fields.String(metadata={"description": "live | review"})
    orgId = fields.Integer()
    email = fields.String()
    crmUserId = fields.String(allow_none=True)
    aurinkoAccountId = fields.String()
    services = fields.List(fields.String())
    mailbox = fields.Dict()
    status = fields.Dict(keys=fields.String(), values=fields.Nested(ServiceStatus))
    subscriptions = fields.List(
        fields.Nested("SubscriptionOut"),
        metadata={"description": "created by a worker after registration answers"},
    )
    reconnectUrl = fields.String(
        allow_none=True,
        metadata={
            "description": "while the mailbox needs re-authorisation: a link for the "
            "user to authorise it again (Aurinko's OAuth flow)"
        },
    )


class SubscriptionOut(Schema):
    service = fields.String()
    resource = fields.String()
    id = fields.String(allow_none=True, metadata={"description": "Aurinko's subscription id"})
    state = fields.String(
        metadata={
            "description": "pending (being created or retried) | active | failed (Aurinko "
            "refused: see lastError) | error (Aurinko reports delivery trouble)"
        }
    )
    lastError = fields.String(allow_none=True)
    updatedAt = fields.DateTime(allow_none=True)


class UnmatchedOut(Schema):
    id = fields.Integer(metadata={"description": "for POST …/unmatched/{itemId}/retry"})
    kind = fields.String()
    key = fields.String()
    subject = fields.String(allow_none=True)
    addresses = fields.List(fields.String())
    reason = fields.String()
    attempts = fields.Integer()
    nextRetryAt = fields.DateTime()
    expiresAt = fields.DateTime()
    lastAttemptAt = fields.DateTime(allow_none=True)
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
    attempts = fields.Integer(metadata={"description": "create attempts recorded"})
    failures = fields.Integer(
        metadata={"description": "deferrals after a transient failure, whatever the step"}
    )
    participants = fields.List(
        fields.String(), metadata={"description": "every address the copies seen so far showed"}
    )
    waitingUntil = fields.DateTime(
        allow_none=True,
        metadata={"description": "while waiting for the sender's copy (it alone shows Bcc)"},
    )
    syncCache = fields.Dict(metadata={"description": "present while waiting in the sync cache"})
    decidedAt = fields.DateTime(allow_none=True)
    rule = fields.String(metadata={"description": "the rule that decided, in words"})
    mailboxEmails = fields.Dict(metadata={"description": "user id -> mailbox address"})
    addresses = fields.List(
        fields.Dict(),
        metadata={
            "description": "external participants, whether each matched a contact, and the"
            " `lead` {id, name} it was logged against while it had none"
        },
    )
    addressesMatchedNobody = fields.List(fields.String())
    leads = fields.List(
        fields.Dict(),
        metadata={"description": "present when logged against CRM leads: {id, name, address}"},
    )


class DuplicatesQuery(_Strict):
    state = fields.String(
        load_default="open", validate=validate.OneOf(["open", "approved", "rejected", "all"])
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))
    # Bounded: a huge offset overflows the database driver (a 500) instead of paging nothing.
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 2**31 - 1))


class DuplicateDecision(_Strict):
    state = fields.String(required=True, validate=validate.OneOf(["open", "approved", "rejected"]))


class DuplicateSide(Schema):
    key = fields.String(metadata={"description": "crm:<id> or mailbox:<userId>:<id>"})
    record = fields.Dict(metadata={"description": "the contact as compared"})


class PossibleDuplicateOut(Schema):
    id = fields.Integer()
    a = fields.Nested(DuplicateSide)
    b = fields.Nested(DuplicateSide)
    score = fields.Float(metadata={"description": "0..1, in the grey band of the matcher"})
    reasons = fields.List(fields.String())
    state = fields.String(metadata={"description": "open | approved | rejected"})
    createdAt = fields.DateTime()
    updatedAt = fields.DateTime()
    decidedAt = fields.DateTime(allow_none=True)


class PossibleDuplicatePage(Schema):
    items = fields.List(fields.Nested(PossibleDuplicateOut))
    total = fields.Integer(metadata={"description": "pairs in this state"})
    limit = fields.Integer()
    offset = fields.Integer()


def _return_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError("must be an absolute http(s) URL")


class ConnectLinkCreate(_Strict):
    """A link that connects one mailbox through Aurinko's OAuth flow."""

    email = fields.Email(
        load_default=None,
        validate=validate.Length(max=320),
        metadata={
            "description": "the mailbox expected (passed as Aurinko's loginHint; "
            "another mailbox signing in is refused)"
        },
    )
    services = fields.List(
        fields.String(validate=validate.OneOf(SERVICES)),
        load_default=lambda: ["email"],
        validate=validate.Length(1, len(SERVICES)),
    )
    crmUserId = fields.String(load_default=None, validate=validate.Length(1, 200))
    serviceType = fields.String(
        load_default=None,
        validate=validate.OneOf(["Google", "Office365", "EWS", "IMAP"]),
        metadata={"description": "the mailbox provider; without it the user picks one"},
    )
    returnUrl = fields.String(
        load_default=None,
        validate=[validate.Length(max=2000), _return_url],
        metadata={
            "description": "where the user goes afterwards, with status=success|error, "
            "userId and email (or reason) added to its query"
        },
    )
    mode = fields.String(load_default="live", **_MODE)


class ConnectLinkOut(Schema):
    id = fields.Integer()
    orgId = fields.Integer()
    url = fields.String(metadata={"description": "BrightSync's link to hand the user"})
    email = fields.String(allow_none=True)
    crmUserId = fields.String(allow_none=True)
    services = fields.List(fields.String())
    serviceType = fields.String(allow_none=True)
    returnUrl = fields.String(allow_none=True)
    mode = fields.String()
    expiresAt = fields.DateTime()
    usedAt = fields.DateTime(allow_none=True)
    userId = fields.Integer(allow_none=True, metadata={"description": "the user it connected"})
