"""Marshmallow schemas of an organisation's and a user's end: what DELETE answers and what
`forget` takes and erases (the admin API's other schemas are in `brightsync.web.schemas`)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from brightsync.crm.settings import Strict


class ForgetRequest(Strict):
    emailAddress = fields.Email(
        required=True,
        validate=validate.Length(3, 320),
        metadata={"description": "the person's address, erased wherever BrightSync keeps it"},
    )


class UserRemoved(Schema):
    userId = fields.Integer()
    orgId = fields.Integer()
    removed = fields.Dict(metadata={"description": "rows removed, per table"})
    passedOn = fields.Dict(
        metadata={"description": "email claims and meetings passed to colleagues' copies"}
    )
    keptWithoutOwner = fields.Dict(
        metadata={"description": "decisions kept on record with no other copy to own them"}
    )
    aurinkoSubscriptionsDeleting = fields.Integer(
        metadata={"description": "deleted at Aurinko by a task that retries with backoff"}
    )


class OrgRemoved(Schema):
    orgId = fields.Integer()
    users = fields.List(fields.Integer())
    removed = fields.Dict(metadata={"description": "rows removed, per table"})
    aurinkoSubscriptionsDeleting = fields.Integer()


class Forgotten(Schema):
    orgId = fields.Integer()
    emailAddress = fields.String()
    erased = fields.Dict(
        metadata={
            "description": "per kind: emailDecisions, emailParticipants, syncCacheItems, "
            "possibleDuplicates, reviewReports, createIntents"
        }
    )
