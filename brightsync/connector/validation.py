"""Judging records against the contract's schemas (`brightsync.connector.schemas`): strict
loads for the reference CRM, the fields a connector must carry, and problems in a record a
connector returned, as lines a provider can read."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields

from brightsync.connector.schemas import REQUIRED


def _strict(schema: Schema) -> Schema:
    schema.unknown = RAISE
    for field in schema.fields.values():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            inner.unknown = RAISE
            _strict(inner.schema)
    return schema


def strict_schema(schema: type[Schema], **kwargs: Any) -> Schema:
    """An instance of `schema` that refuses unknown fields, nested ones included."""
    return _strict(schema(**kwargs))


def must_carry(schema: type[Schema]) -> list[str]:
    """Names of the fields a connector must return for this object."""
    return [
        field.data_key or name
        for name, field in schema().fields.items()
        if field.metadata.get(REQUIRED)
    ]


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            out += _flatten(value, f"{prefix}{key}." if key != "_schema" else prefix)
    elif isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        out.append(f"{prefix.rstrip('.') or 'record'}: {' '.join(errors)}")
    elif isinstance(errors, list):
        for item in errors:
            out += _flatten(item, prefix)
    else:
        out.append(f"{prefix.rstrip('.') or 'record'}: {errors}")
    return out


def error_messages(errors: Any) -> list[str]:
    """Marshmallow's nested errors as lines, e.g. `emailAddresses: Not a valid list.`"""
    return _flatten(errors)


def record_problems(schema: type[Schema], record: Any, *, must: bool = True) -> list[str]:
    """What is wrong with a record a connector returned: wrong field types, missing fields.

    Extra fields are allowed (connectors may return more); absent optional fields are fine.
    With `must`, the fields marked x-brightsync-required must be present (null is allowed
    where the field is nullable, e.g. a contact without a company).
    """
    if not isinstance(record, dict):
        return [f"expected a JSON object, got {type(record).__name__}"]
    problems = error_messages(schema().validate(record, partial=True))
    if must:
        for name in must_carry(schema):
            if name not in record:
                problems.append(f"{name}: missing (a connector must return it)")
        if "id" in record and record["id"] in (None, ""):
            problems.append("id: empty")
    return problems
