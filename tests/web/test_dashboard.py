"""The dashboard through Flask's test client: login, no data without it, CSRF, actions, chart."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from brightsync.db import session_scope
from brightsync.models import User
from brightsync.ops import runlog
from brightsync.web.dashboard import chart
from tests.conftest import ADMIN_TOKEN
from tests.factories import make_org, make_user


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _login(client, token: str = ADMIN_TOKEN):
    page = client.get("/dashboard/login").get_data(as_text=True)
    return client.post(
        "/dashboard/login", data={"token": token, "csrf_token": _csrf(page), "next": ""}
    )


def test_no_data_without_login(client):
    org_id = make_org("Secretive Ltd")
    uid = make_user(org_id, "alice")
    for path in ["/dashboard/", f"/dashboard/orgs/{org_id}", f"/dashboard/users/{uid}"]:
        r = client.get(path)
        assert r.status_code == 302 and "/dashboard/login" in r.headers["Location"]
    assert client.get(f"/dashboard/users/{uid}/status.json").status_code == 401
    # An action without a session does nothing.
    r = client.post(f"/dashboard/users/{uid}/pause", data={})
    assert r.status_code == 302
    with session_scope() as s:
        assert s.get(User, uid).paused is False
    wrong = _login(client, "not-the-token")
    assert wrong.status_code == 401 and b"not the admin token" in wrong.data
    assert b"Secretive" not in wrong.data
    assert client.get("/dashboard/").status_code == 302
    # A login form posted without its CSRF token is refused.
    assert client.post("/dashboard/login", data={"token": ADMIN_TOKEN}).status_code == 400


def test_login_browse_and_act_with_csrf(client):
    org_id = make_org("Acme")
    uid = make_user(org_id, "alice")
    r = _login(client)
    assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard/")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    index = client.get("/dashboard/").get_data(as_text=True)
    assert "Acme" in index and "<svg" in index
    org_page = client.get(f"/dashboard/orgs/{org_id}").get_data(as_text=True)
    assert "alice@acme.com" in org_page and "Sync cache" in org_page
    page = client.get(f"/dashboard/users/{uid}").get_data(as_text=True)
    assert "Sync now" in page and "initialising" in page

    # Without the form's token the action is refused and nothing changes.
    refused = client.post(f"/dashboard/users/{uid}/pause", data={})
    assert refused.status_code == 400 and b"did not come from this dashboard" in refused.data
    assert client.get("/dashboard/users/999").status_code == 404
    with session_scope() as s:
        assert s.get(User, uid).paused is False
    r = client.post(f"/dashboard/users/{uid}/pause", data={"csrf_token": _csrf(page)})
    assert r.status_code == 302
    with session_scope() as s:
        assert s.get(User, uid).paused is True
    status = client.get(f"/dashboard/users/{uid}/status.json").json
    assert status["paused"] is True and status["services"]["email"]["health"] == "paused"
    # Sync now on a paused user explains itself instead of queueing.
    r = client.post(
        f"/dashboard/users/{uid}/sync", data={"csrf_token": _csrf(page)}, follow_redirects=True
    )
    assert b"paused; resume it first" in r.data

    why = client.get(f"/dashboard/orgs/{org_id}/why/email?key=%3Cnone%40x%3E")
    assert b"Nothing is known" in why.data
    logout = client.post("/dashboard/logout", data={"csrf_token": _csrf(page)})
    assert logout.status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_chart_draws_synced_records_and_errors_from_the_time_series(unit_env):
    org_id = make_org()
    uid = make_user(org_id, "alice")
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    runlog.record(
        uid,
        "email",
        error=False,
        seconds=2,
        counters={"logged": 5, "unmatched": 2},
        now=now - timedelta(hours=2),
    )
    runlog.record(
        uid,
        "email",
        error=False,
        seconds=1,
        counters={"logged": 3, "skipped_bulk": 4},
        now=now - timedelta(hours=2, minutes=1),
    )
    runlog.record(uid, "email", error=True, seconds=1, counters={}, now=now - timedelta(minutes=20))
    points = runlog.series(org_id, hours=24, points=24, now=now)
    assert len(points) == 24
    assert sum(p.synced for p in points) == 8
    assert sum(p.cached for p in points) == 2 and sum(p.skipped for p in points) == 4
    assert sum(p.errors for p in points) == 1 and sum(p.runs for p in points) == 3
    assert [p for p in points if p.synced][0].start <= now - timedelta(hours=2)
    assert runlog.series(org_id + 1, now=now)[0].runs == 0  # another org's chart is empty
    svg = str(chart(points))
    assert 'data-synced="8"' in svg and 'data-errors="1"' in svg
    assert svg.count('class="synced"') == 1 and svg.count('class="err"') == 1
