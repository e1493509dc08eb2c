"""Fixtures of the Aurinko simulator tests: a running simulator, raw API access, a webhook
receiver, and the OpenAPI document as a validator."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from brightsync.sandbox.aurinko import (
    WebhookRecorder,
)
from tests.conftest import SIGNING_SECRET  # the shared `aurinko` fixture signs with it

OPENAPI = Path(__file__).resolve().parents[2] / ".." / "shared" / "spec" / "aurinko-openapi.yaml"


class Api:
    """Raw HTTP to the simulated API as one account (no client library in between)."""

    def __init__(self, base_url: str, token: str | None = None, **kwargs: Any) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.kwargs = kwargs

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(
            method, self.base_url + path, timeout=10, **{**self.kwargs, **kwargs}
        )


@pytest.fixture
def mailbox(aurinko) -> Callable[..., tuple[dict[str, Any], Api]]:
    """`mailbox(email, provider="google", **options)` -> (control's account, Api as it)."""
    url, control = aurinko

    def make(email: str, provider: str = "google", **options: Any):
        account = control.add_account(email, provider=provider, **options)
        return account, Api(url, account["accessToken"])

    return make


@pytest.fixture
def receiver() -> Iterator[WebhookRecorder]:
    with WebhookRecorder(SIGNING_SECRET) as hook:
        yield hook


# --- the OpenAPI document as a validator -------------------------------------------------------


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema: `nullable`, and objects closed to properties
    the document does not list (so an undocumented field in an answer fails)."""
    if isinstance(node, list):
        return [_to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k not in ("example", "examples")}
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
        self._schemas = _to_json_schema(copy.deepcopy(document))
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


@pytest.fixture(scope="session")
def openapi() -> OpenApi:
    if not OPENAPI.is_file():
        pytest.skip(f"Aurinko's OpenAPI document is not at {OPENAPI.resolve()}")
    import yaml

    return OpenApi(yaml.safe_load(OPENAPI.read_text()))
