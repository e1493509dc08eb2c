"""Per-user settings through PATCH /api/v1/users/{id}: validated with the organisation's
schema (a 400 names the bad key), deep-merged, removable with null, shown by GET."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def user_path(client) -> str:
    org = client.post(
        "/api/v1/orgs",
        headers=AUTH,
        json={
            "name": "Acme",
            "domains": ["acme.com"],
            "crm": {"baseUrl": "http://127.0.0.1:9", "authType": "bearer", "token": "t"},
            "settings": {"email": {"excludeDomains": ["org.example"]}},
        },
    )
    assert org.status_code == 201, org.get_json()
    user = client.post(
        f"/api/v1/orgs/{org.get_json()['id']}/users",
        headers=AUTH,
        json={"email": "a@acme.com", "aurinkoAccountId": "acct-1", "aurinkoAccessToken": "x"},
    )
    assert user.status_code == 201, user.get_json()
    return f"/api/v1/users/{user.get_json()['id']}"


def test_overrides_merge_over_the_orgs_and_null_removes_one(client, user_path):
    body = {"settings": {"email": {"enabled": False, "excludeAddresses": ["boss@x.com"]}}}
    r = client.patch(user_path, json=body, headers=AUTH)
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["settings"] == {"email": {"enabled": False, "excludeAddresses": ["boss@x.com"]}}
    effective = out["effectiveSettings"]["email"]
    assert effective["enabled"] is False
    assert effective["excludeDomains"] == ["org.example"]  # the org's, untouched
    assert effective["excludeAddresses"] == ["boss@x.com"]

    r = client.patch(
        user_path,
        json={"settings": {"calendar": {"direction": "off"}, "email": {"enabled": None}}},
        headers=AUTH,
    )
    assert r.status_code == 200, r.get_json()
    got = client.get(user_path, headers=AUTH).get_json()
    assert got["settings"] == {
        "email": {"excludeAddresses": ["boss@x.com"]},
        "calendar": {"direction": "off"},
    }
    assert got["effectiveSettings"]["email"]["enabled"] is True
    r = client.patch(user_path, json={"settings": None, "crmUserId": "u-7"}, headers=AUTH)
    assert r.get_json()["settings"] == {} and r.get_json()["crmUserId"] == "u-7"


@pytest.mark.parametrize(
    "settings, path",
    [
        ({"email": {"enabeld": False}}, ["email", "enabeld"]),
        ({"calendar": {"direction": "sideways"}}, ["calendar", "direction"]),
        ({"unmatched": {"retentionDays": 3}}, ["unmatched"]),
        ({"bogus": {}}, ["bogus"]),
    ],
)
def test_a_bad_override_is_a_400_naming_the_key(client, user_path, settings, path):
    r = client.patch(user_path, json={"settings": settings}, headers=AUTH)
    assert r.status_code == 400, r.get_json()
    where = r.get_json()["fields"]["settings"]
    for key in path:
        assert key in where, (path, where)
        where = where[key]
    assert client.get(user_path, headers=AUTH).get_json()["settings"] == {}
