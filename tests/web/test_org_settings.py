"""Every organisation setting the README documents is accepted; out-of-range values are 400s."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN

REPO = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def documented_settings(text: str) -> dict:
    """The JSON block after "Organisation settings" with each `a|b|c` choice read as `a`."""
    block = re.search(r"[Oo]rganisation settings.*?```json\n(.*?)```", text, re.S)
    assert block, "no organisation settings block found"
    settings = json.loads(re.sub(r'"([\w-]+)(\|[\w|-]+)"', r'"\1"', block.group(1)))
    # A mapping shown as {"<key>": "<value>"} documents a shape, not a value: send it empty.
    for section in settings.values():
        for key, value in section.items():
            if isinstance(value, dict) and all(k.startswith("<") for k in value):
                section[key] = {}
    return settings


def org(settings: dict) -> dict:
    return {
        "name": "Acme",
        "domains": ["acme.com"],
        "crm": {"baseUrl": "http://127.0.0.1:9", "authType": "bearer", "token": "t"},
        "settings": settings,
    }


@pytest.mark.parametrize(
    "doc", [REPO / "README.md", Path("/work/shared/spec/interfaces.md")], ids=["readme", "spec"]
)
def test_every_documented_setting_is_accepted_and_kept(client, doc):
    if not doc.exists():
        pytest.skip(f"{doc} is not here")
    settings = documented_settings(doc.read_text())
    r = client.post("/api/v1/orgs", json=org(settings), headers=AUTH)
    assert r.status_code == 201, r.get_json()
    stored = r.get_json()["settings"]
    for section, values in settings.items():
        for key, value in values.items():
            assert stored[section][key] == value, (section, key)


def test_initial_days_is_accepted_on_create_and_patch(client):
    r = client.post("/api/v1/orgs", json=org({"email": {"initialDays": 90}}), headers=AUTH)
    assert r.status_code == 201, r.get_json()
    org_id = r.get_json()["id"]
    assert r.get_json()["settings"]["email"]["initialDays"] == 90
    r = client.patch(
        f"/api/v1/orgs/{org_id}", json={"settings": {"email": {"initialDays": 7}}}, headers=AUTH
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["settings"]["email"]["initialDays"] == 7
    assert r.get_json()["settings"]["email"]["skipBulk"] is True  # merged, not replaced


@pytest.mark.parametrize(
    ("settings", "section", "key"),
    [
        ({"email": {"initialDays": 0}}, "email", "initialDays"),
        ({"email": {"initialDays": 100000}}, "email", "initialDays"),
        ({"email": {"initialDays": "14"}}, "email", "initialDays"),
        ({"email": {"initialDays": 1.5}}, "email", "initialDays"),
        ({"email": {"initialDays": 1e400}}, "email", "initialDays"),
        ({"email": {"opportunityCacheSeconds": -1}}, "email", "opportunityCacheSeconds"),
        ({"email": {"opportunityCacheSeconds": 3601}}, "email", "opportunityCacheSeconds"),
        ({"calendar": {"pastDays": -1}}, "calendar", "pastDays"),
        ({"unmatched": {"retentionDays": 366}}, "unmatched", "retentionDays"),
        ({"unmatched": {"retryEveryHours": 0}}, "unmatched", "retryEveryHours"),
        ({"email": {"contactCreation": "some"}}, "email", "contactCreation"),
        ({"email": {"noSuchKey": 1}}, "email", "noSuchKey"),
    ],
)
def test_out_of_range_settings_are_400_naming_the_field(client, settings, section, key):
    r = client.post("/api/v1/orgs", json=org(settings), headers=AUTH)
    assert r.status_code == 400
    body = r.get_json()
    assert body["error"] == "invalid request"
    assert key in body["fields"]["settings"][section], body
    r = client.post("/api/v1/orgs", json=org({}), headers=AUTH)
    r = client.patch(
        f"/api/v1/orgs/{r.get_json()['id']}", json={"settings": settings}, headers=AUTH
    )
    assert r.status_code == 400
    assert key in r.get_json()["fields"]["settings"][section]
