"""Aurinko's OpenAPI document as a validator, shared by the simulator's tests (its answers)
and the client's tests (the requests the client sends)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import requests

# Kept beside the checkout (the repository's parent folder, or one further up for a worktree).
SPEC = Path("shared") / "spec" / "aurinko-openapi.yaml"
OPENAPI = next(
    (d / SPEC for d in Path(__file__).resolve().parents[2:] if (d / SPEC).is_file()),
    Path(__file__).resolve().parents[3] / SPEC,
)


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema: `nullable`, and objects closed to properties
    the document does not list (so an undocumented field in an answer or a body fails)."""
    if isinstance(node, list):
        return [to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k not in ("example", "examples")}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out and "additionalProperties" not in out and "$ref" not in out:
        out["additionalProperties"] = False
    return out


class OpenApi:
    def __init__(self, document: dict[str, Any]) -> None:
        from jsonschema import Draft7Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7

        self.document = document
        self._schemas = to_json_schema(copy.deepcopy(document))
        self._registry = Registry().with_resource(
            "urn:aurinko", Resource.from_contents(self._schemas, default_specification=DRAFT7)
        )
        self._validator_cls = Draft7Validator

    def validate(self, instance: Any, schema: dict[str, Any] | str, where: str = "") -> None:
        if isinstance(schema, str):
            schema = {"$ref": f"#/components/schemas/{schema}"}
        ref = schema.get("$ref", "")
        if ref.startswith("#"):
            schema = {"$ref": "urn:aurinko" + ref}
        validator = self._validator_cls(
            schema,
            registry=self._registry,
            format_checker=self._validator_cls.FORMAT_CHECKER,
        )
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"{list(e.absolute_path)}: {e.message}" for e in errors[:10]]
            raise AssertionError(f"{where} does not match {ref}:\n" + "\n".join(lines))

    def operation(self, template: str, method: str) -> dict[str, Any]:
        return self.document["paths"][template][method.lower()]

    def check(self, response: requests.Response, template: str) -> Any:
        """Validate an answer against the documented response of its path and status."""
        method = response.request.method or "GET"
        responses = self.operation(template, method)["responses"]
        where = f"{method} {template} -> {response.status_code}"
        spec = responses.get(str(response.status_code))
        if spec is None:
            assert response.status_code >= 400, f"{where}: status not documented"
            body = response.json()
            self.validate(body, "ApiRequestFailed", where)
            return body
        content = (spec.get("content") or {}).get("application/json")
        if content is None:
            return response.json() if response.content else None
        body = response.json()
        self.validate(body, content["schema"], where)
        return body

    def check_request(
        self, method: str, path: str, query: dict[str, Any], body: Any
    ) -> tuple[str, str]:
        """Validate a request as sent: a documented operation, its query parameters declared
        (the required ones present), and a JSON body that matches its requestBody schema
        (types as written: a string or array property takes no null). Returns
        (method, template)."""
        found = self.match(method, path)
        assert found is not None, f"{method} {path} is not a documented operation"
        template, op = found
        params = [p for p in op.get("parameters", []) if p.get("in") == "query"]
        declared = {p["name"] for p in params}
        assert set(query) <= declared, (template, set(query) - declared)
        required = {p["name"] for p in params if p.get("required")}
        assert required <= set(query), (template, required - set(query))
        content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
        if body is not None:
            assert content, f"{method} {template} takes no JSON body"
            self.validate(body, content["schema"], f"the body of {method} {template}")
        return method.upper(), template

    def match(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The documented (template, operation) a concrete request path falls under."""
        candidates = []
        for template, ops in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path) and method.lower() in ops:
                candidates.append((template.count("{"), template, ops[method.lower()]))
        if not candidates:
            return None
        _, template, op = min(candidates)  # the most literal template wins
        return template, op


def load_openapi() -> OpenApi:
    """The document (the test is skipped when it is not there)."""
    if not OPENAPI.is_file():
        pytest.skip(f"Aurinko's OpenAPI document is not at {OPENAPI.resolve()}")
    import yaml

    return OpenApi(yaml.safe_load(OPENAPI.read_text()))
