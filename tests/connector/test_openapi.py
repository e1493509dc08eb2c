"""The OpenAPI document of the connector contract, and the schemas behind it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from jsonschema import Draft202012Validator

from brightsync.connector.contract import CONTRACT, OPERATIONS
from brightsync.connector.openapi import (
    DOC_PATH,
    connector_openapi,
    openapi_json,
    write_openapi,
)
from brightsync.connector.schemas import (
    SCHEMAS,
    ContactSchema,
    EmailSchema,
)
from brightsync.connector.validation import must_carry, record_problems, strict_schema


@pytest.fixture(scope="module")
def doc():
    return connector_openapi()


def test_committed_document_is_current():
    assert DOC_PATH.read_text(encoding="utf-8") == openapi_json(), (
        "docs/connector-openapi.json is stale: run `python -m brightsync.connector.openapi`"
    )


def test_write_openapi(tmp_path):
    path = write_openapi(tmp_path / "out" / "doc.json")
    assert json.loads(path.read_text()) == connector_openapi()


def test_document_is_valid_openapi(doc):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)


def test_every_operation_is_described(doc):
    assert doc["openapi"] == "3.1.0"
    seen = {}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            seen[operation["operationId"]] = (method, path, operation)
    assert set(seen) == set(OPERATIONS) and len(CONTRACT) == len(OPERATIONS)
    required = {op_id for op_id, (_, _, o) in seen.items() if o["x-brightsync-required"]}
    assert required == {"emails.create", "contacts.lookup"}
    method, path, lookup = seen["contacts.lookup"]
    assert (method, path) == ("get", "/api/v1/contacts/lookup")
    assert lookup["parameters"][0]["name"] == "emails" and lookup["parameters"][0]["required"]
    _, _, deleted = seen["contacts.deleted"]
    assert {p["name"]: p["required"] for p in deleted["parameters"]}["since"] is True
    _, _, get = seen["emails.get"]
    assert get["parameters"][0] == {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    assert "requestBody" in seen["emails.create"][2]
    assert set(
        seen["events.list"][2]["responses"]["200"]["content"]["application/json"]["schema"]
    ) == {"oneOf"}


def test_security_schemes(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "OAuth2 token",
    }
    assert schemes["basicAuth"]["scheme"] == "basic"
    assert doc["security"] == [{"bearerAuth": []}, {"basicAuth": []}]


def test_objects_and_required_fields(doc):
    schemas = doc["components"]["schemas"]
    for name in (
        "Email",
        "Contact",
        "Company",
        "Opportunity",
        "Event",
        "Attendee",
        "Task",
        "User",
        "RelatedTo",
        "Attachment",
        "DeletedRecord",
        "Error",
        "ContactPage",
    ):
        assert name in schemas
    contact = schemas["Contact"]["properties"]
    flagged = {k for k, v in contact.items() if v.get("x-brightsync-required")}
    # companyId is "if applicable": null or left out when the contact has no company.
    assert flagged == {"id", "firstName", "lastName", "emailAddresses"}
    assert must_carry(ContactSchema) == ["id", "firstName", "lastName", "emailAddresses"]
    assert contact["id"]["type"] == ["string", "integer"]
    assert contact["lastModifiedAt"]["format"] == "date-time"
    assert contact["lastModifiedAt"]["readOnly"] is True
    email = schemas["Email"]["properties"]
    assert set(email) == {
        "id",
        "msgId",
        "syncThreadId",
        "inReplyTo",
        "receivedAt",
        "rfc822MsgId",
        "subject",
        "fromAddress",
        "fromName",
        "toAddresses",
        "ccAddresses",
        "bccAddresses",
        "textBody",
        "htmlBody",
        "attachments",
        "relatedTo",
    }
    attendee = schemas["Attendee"]["properties"]
    assert set(attendee) == {"userId", "emailAddress", "contactId", "status"}
    assert set(schemas["Event"]["required"]) == {"startTime", "endTime"}


def test_schemas_refuse_and_accept():
    assert (
        record_problems(
            ContactSchema,
            {"id": 7, "firstName": "A", "lastName": None, "emailAddresses": [], "companyId": None},
        )
        == []
    )
    problems = record_problems(ContactSchema, {"id": "1", "emailAddresses": "a@b"})
    assert "emailAddresses: Not a valid list." in problems
    assert "firstName: missing (a connector must return it)" in problems
    assert record_problems(ContactSchema, ["x"]) == ["expected a JSON object, got list"]
    assert record_problems(EmailSchema, {"id": "", "receivedAt": "2024-01-01T00:00:00"}) == [
        "id: Must not be empty.",
        "receivedAt: Not a valid aware datetime.",
        "id: empty",
    ]
    # Responses may carry more than the contract; requests to the reference may not.
    assert record_problems(EmailSchema, {"id": "e", "extra": 1, "relatedTo": {"deals": []}}) == []
    with pytest.raises(Exception, match="Unknown field"):
        strict_schema(EmailSchema).load({"relatedTo": {"deals": []}})


def test_reference_responses_match_the_document(doc, full_crm):
    """What the reference CRM answers validates against the document's JSON Schemas."""
    components = {"components": doc["components"]}

    def check(name: str, value) -> None:
        validator = Draft202012Validator({"$ref": f"#/components/schemas/{name}", **components})
        errors = [e.message for e in validator.iter_errors(value)]
        assert errors == [], (name, value)

    for name in ("Contact", "Email", "Event", "Task"):
        Draft202012Validator.check_schema(doc["components"]["schemas"][name])
    full_crm.reset()
    http = requests.Session()
    http.headers["Authorization"] = "Bearer sandbox-crm-token"
    api = full_crm.url + "/api/v1"
    start = datetime.now(UTC) + timedelta(days=1)
    bodies = {
        "contacts": {"firstName": "A", "emailAddresses": ["a@x.com"], "companyId": 5},
        "companies": {"name": "Acme", "domains": ["acme.com"]},
        "emails": {
            "subject": "s",
            "rfc822MsgId": "<m@x>",
            "relatedTo": {"contacts": ["1"]},
            "attachments": [{"name": "a", "size": 1}],
        },
        "events": {
            "startTime": start.isoformat(),
            "endTime": start.isoformat(),
            "attendees": [{"emailAddress": "a@x.com", "status": "accepted"}],
        },
        "tasks": {"subject": "t", "dueDate": start.isoformat()},
    }
    for resource, body in bodies.items():
        created = http.post(f"{api}/{resource}", json=body, timeout=5)
        assert created.status_code == 201, created.text
        check(SCHEMAS[resource].__name__.removesuffix("Schema"), created.json())
    check("ContactPage", http.get(f"{api}/contacts", timeout=5).json())
    check("User", http.get(f"{api}/users/me", timeout=5).json())
    contact = http.get(f"{api}/contacts/lookup?emails=a@x.com", timeout=5).json()[0]
    http.delete(f"{api}/contacts/{contact['id']}", timeout=5)
    deleted = http.get(
        f"{api}/deletedContacts", params={"since": contact["lastModifiedAt"]}, timeout=5
    ).json()
    check("DeletedRecordPage", deleted)
    error = http.post(f"{api}/contacts", json={"firstName": 1}, timeout=5).json()
    check("Error", error)
