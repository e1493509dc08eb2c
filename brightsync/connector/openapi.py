"""The CRM connector contract as an OpenAPI 3.1 document, generated from the operation table
(`brightsync.connector.contract`) and the schemas. Each operation carries
`x-brightsync-required` (only creating an email and looking up contacts are required;
BrightSync discovers the rest; docs/connector.md says what each domain does without each).

The committed copy lives in docs/connector-openapi.json; regenerate it with
`python -m brightsync.connector.openapi` (a test fails when it is stale).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from brightsync.connector.contract import CONTRACT, PARAMS, Operation
from brightsync.connector.schemas import (
    SCHEMAS,
    DeletedEntrySchema,
    DeletedRecordSchema,
    ErrorSchema,
    Id,
    page_schema,
)

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "connector-openapi.json"


DESCRIPTION = """\
The REST API a business system (CRM, ATS, project tool) implements so BrightSync can sync
mailboxes with it. Paths are relative to the tenant's base URL.

* Only `emails.create` and `contacts.lookup` are required (`x-brightsync-required: true`);
  BrightSync discovers the other operations (404/405/501 = not offered). Each domain
  (email, calendar, contacts, tasks) needs a few of them to run and names a limit for each
  other one it lacks; `brightsync connector check` prints that table for a connector.
* Authentication: OAuth2 bearer token or HTTP Basic with an API token; anything else is
  answered 401.
* Timestamps are ISO 8601 with an offset. `since` is inclusive: the same record may come back
  twice, BrightSync de-duplicates.
* Lists page either with `limit` + `pageToken` (the response is `{records, nextPageToken}`)
  or with `limit` + `offset` (the response is a plain array; a short page is the last).
  Lookups return plain arrays.
* 429 and 503 may carry `Retry-After`; 5xx are retried with backoff (a create answered 5xx
  is first looked for, as it may have been stored: refuse an unprocessed create with 429).
  Any other 4xx is final for that record: send `{"error", "message"}` and BrightSync
  records the message.
* Creates (POST) carry an `Idempotency-Key` header (`x-brightsync-recommended`): the same
  key again, within 24 hours, should answer the record the first request created instead
  of creating another. BrightSync never repeats a create whose answer was lost without
  first looking for its record; honouring the key makes that safe where no lookup exists.
"""

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "x-brightsync-recommended": True,
    "description": "Recommended. The same value on every attempt of one create. A connector "
    "that honours it answers a repeat (within 24 hours) with the record the first request "
    "created, not a new one, so a create whose answer was lost (a timeout, a 502) is never "
    "doubled. `brightsync connector check` reports whether it is honoured.",
    "schema": {"type": "string", "maxLength": 255},
}


def _id_type(self: Any, field: Any, ret: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Ids are strings or integers."""
    if not isinstance(field, Id):
        return {}
    types = ret.get("type", "string")
    types = list(types) if isinstance(types, list) else [types]
    return {
        "type": [t for t in types if t != "null"]
        + ["integer"]
        + (["null"] if "null" in types else [])
    }


def _parameter(name: str) -> dict[str, Any]:
    spec = dict(PARAMS[name])
    spec.setdefault("name", name)
    spec["in"] = "query"
    spec.setdefault("required", False)
    return spec


_BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}


def _response(op: Operation, item: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{item}"}
    if op.returns == "none":
        return {"description": "Done (no body)."}
    if op.returns == "binary":
        return {
            "description": "The file, with its Content-Type.",
            "content": {"*/*": {"schema": _BINARY}},
        }
    if op.returns == "object":
        schema: dict[str, Any] = ref
    elif op.returns == "list":
        schema = {"type": "array", "items": ref}
    elif "showDeleted" in op.params:
        # A record, or (asked with showDeleted=true) the entry of one deleted since.
        entry = {"oneOf": [ref, {"$ref": "#/components/schemas/DeletedEntry"}]}
        records = {"type": "array", "items": entry}
        page = {
            "type": "object",
            "required": ["records"],
            "properties": {"records": records, "nextPageToken": {"type": ["string", "null"]}},
        }
        schema = {"oneOf": [records, page]}
    else:
        item = "DeletedRecord" if op.returns == "deleted" else item
        schema = {
            "oneOf": [
                {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
                {"$ref": f"#/components/schemas/{item}Page"},
            ]
        }
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _operation(op: Operation) -> dict[str, Any]:
    item = op.answer or SCHEMAS[op.resource].__name__.removesuffix("Schema")
    params: list[dict[str, Any] | str] = [_parameter(p) for p in op.params]
    for name in reversed(re.findall(r"{(\w+)}", op.path)):
        params.insert(
            0, {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        )
    out: dict[str, Any] = {
        "operationId": op.id,
        "summary": op.summary,
        "tags": [op.resource],
        "x-brightsync-required": op.required,
        "parameters": params,
        "responses": {
            str(op.status): _response(op, item),
            "400": {"$ref": "#/components/responses/BadRequest"},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "429": {"$ref": "#/components/responses/TooManyRequests"},
        },
    }
    if "{id}" in op.path:
        out["responses"]["404"] = {"$ref": "#/components/responses/NotFound"}
    if op.method == "post":
        params.append("IdempotencyKey")  # apispec resolves a component by its name
    if op.upload:
        out["requestBody"] = {
            "required": True,
            "description": "One file: the part `file`, with its filename and Content-Type.",
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": _BINARY},
                    }
                }
            },
        }
    if op.body:
        body_ref = {"$ref": f"#/components/schemas/{item}"}
        out["requestBody"] = {
            "required": True,
            "description": "Any subset of the fields."
            if op.body_partial
            else "`id` and `lastModifiedAt` are set by the connector and ignored here.",
            "content": {"application/json": {"schema": body_ref}},
        }
    if not params:
        del out["parameters"]
    return out


@lru_cache(maxsize=1)
def _document() -> str:
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="BrightSync CRM connector",
        version="1.0.0",
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": DESCRIPTION},
        servers=[{"url": "https://crm.example.com", "description": "the tenant's base URL"}],
        security=[{"bearerAuth": []}, {"basicAuth": []}],
    )
    plugin.converter.add_attribute_function(_id_type)
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "OAuth2 token"}
    )
    spec.components.security_scheme(
        "basicAuth", {"type": "http", "scheme": "basic", "description": "user + API token"}
    )
    for schema in (*SCHEMAS.values(), DeletedRecordSchema, DeletedEntrySchema, ErrorSchema):
        spec.components.schema(schema.__name__.removesuffix("Schema"), schema=schema)
    for resource in ("contacts", "events", "tasks"):
        paged = page_schema(SCHEMAS[resource])
        spec.components.schema(paged.__name__.removesuffix("Schema"), schema=paged)
    spec.components.schema("DeletedRecordPage", schema=page_schema(DeletedRecordSchema))
    spec.components.parameter("IdempotencyKey", "header", IDEMPOTENCY_KEY)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for name, description in (
        ("BadRequest", "Invalid request; final for that record (`message` is recorded)."),
        ("Unauthorized", "Missing or wrong credentials."),
        ("NotFound", "No such record."),
        ("TooManyRequests", "Slow down; honour `Retry-After` (seconds)."),
    ):
        spec.components.response(name, {"description": description, "content": error})

    paths: dict[str, dict[str, Any]] = {}
    for op in CONTRACT:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return json.dumps(spec.to_dict(), indent=2, ensure_ascii=False) + "\n"


def connector_openapi() -> dict[str, Any]:
    """The OpenAPI document of the connector contract (a fresh copy each call)."""
    return json.loads(_document())


def openapi_json() -> str:
    """The document as committed in docs/connector-openapi.json."""
    return _document()


def write_openapi(path: Path | None = None) -> Path:
    path = path or DOC_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(openapi_json(), encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m brightsync.connector.openapi
    print(f"wrote {write_openapi()}")
