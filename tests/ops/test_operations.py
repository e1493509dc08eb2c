"""Operating a live stack (real worker, both backends): status, why, pause/resume, re-sync,
retry of a cache item, metrics from the worker process, the run series and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import clean_environ, wait_for
from tests.support.helpers import (
    crm_emails,
    decision,
    make_org,
    make_user,
    person,
    seed_contacts,
    send,
    wait_decided,
)

DAVE = {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}
ERIN = {"firstName": "Erin", "lastName": "Prospect", "emailAddresses": ["erin@prospect.io"]}


def cli(stack, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "brightsync", *args],
        env={**clean_environ(), **stack.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def metric(stack, sample: str) -> float:
    from brightsync.ops import gauges

    gauges.reset_gauge_cache()
    text = stack.admin("GET", "/metrics").text
    total = 0.0
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if not line.startswith("#") and name.startswith(sample):
            total += float(value)
    return total


def test_operator_watches_pauses_resumes_resyncs_and_explains(clean_stack):
    st = clean_stack
    org_id = make_org(st)
    alice = make_user(st, org_id, "alice@acme.com")
    uid = alice["id"]
    seed_contacts(st, DAVE)
    hello = send(st, person("dave@customer.com"), ["alice@acme.com"], "Hello")["internetMessageId"]
    intro = send(st, person("erin@prospect.io"), ["alice@acme.com"], "Intro")["internetMessageId"]
    wait_decided(st, org_id, hello, "logged")
    wait_decided(st, org_id, intro, "unmatched")

    user = wait_for(
        lambda: (
            (u := st.admin("GET", f"/api/v1/users/{uid}").json())["status"]["email"]["state"]
            == "idle"
            and u
        ),
        message="first runs finished",
    )
    email = user["status"]["email"]
    assert email["health"] == "active" and email["lastSyncAt"] and email["nextRunAt"]
    assert email["subscription"]["healthy"] is True and email["lastErrorCause"] is None

    # Why was the intro not logged? Which addresses matched nobody?
    why = st.admin("GET", f"/api/v1/orgs/{org_id}/why/email", params={"key": intro}).json()
    assert why["state"] == "unmatched" and why["addressesMatchedNobody"] == ["erin@prospect.io"]
    assert why["mailboxEmails"][str(uid)] == "alice@acme.com" and "sync cache" in why["rule"]

    # Paused: the webhook's run starts and stops at the door; nothing is logged.
    assert st.admin("POST", f"/api/v1/users/{uid}/pause", json={}).status_code == 200
    skipped_before = metric(st, 'brightsync_sync_runs_total{outcome="skipped"')
    held = send(st, person("dave@customer.com"), ["alice@acme.com"], "While paused")
    wait_for(
        lambda: metric(st, 'brightsync_sync_runs_total{outcome="skipped"') > skipped_before,
        message="the paused run was skipped",
    )
    assert decision(st, org_id, held["internetMessageId"]) is None
    assert st.admin("POST", f"/api/v1/users/{uid}/sync", json={}).status_code == 409
    status = cli(st, "status", "--org", str(org_id))
    assert status["users"][0]["services"]["email"]["health"] == "paused"

    # Resumed from the shell: a run is queued and the held message is logged.
    resumed = cli(st, "resume", str(uid))
    assert resumed["paused"] is False and resumed["queued"]["email"] in ("enqueued", "coalesced")
    wait_decided(st, org_id, held["internetMessageId"], "logged")

    # Re-sync from scratch: everything is read again, nothing is written twice.
    runs_before = st.admin("GET", f"/api/v1/users/{uid}").json()["status"]["email"]["runs"]
    r = st.admin("POST", f"/api/v1/users/{uid}/resync", json={})
    assert r.status_code == 202, r.text
    wait_for(
        lambda: (
            (e := st.admin("GET", f"/api/v1/users/{uid}").json()["status"]["email"])["runs"]
            > runs_before
            and e["state"] == "idle"
        ),
        message="the re-sync ran",
    )
    for msg in (hello, held["internetMessageId"]):
        assert len(crm_emails(st, msg)) == 1

    # Retry now for the cached intro once Erin exists in the CRM.
    seed_contacts(st, ERIN)
    item = st.admin("GET", f"/api/v1/orgs/{org_id}/unmatched").json()["items"][0]
    retried = st.admin("POST", f"/api/v1/orgs/{org_id}/unmatched/{item['id']}/retry")
    assert retried.status_code == 200 and retried.json()["matched"] is True
    wait_decided(st, org_id, intro, "logged")
    assert len(crm_emails(st, intro)) == 1
    assert cli(st, "why", str(org_id), "email", intro)["state"] == "logged"

    # What the worker process did shows in the web process's /metrics.
    assert metric(st, 'brightsync_sync_runs_total{outcome="ok",service="email"}') >= 2
    assert metric(st, 'brightsync_records_total{outcome="synced"') >= 2
    assert metric(st, 'brightsync_records_total{outcome="cached"') >= 1
    assert metric(st, 'brightsync_api_requests_total{api="aurinko"') > 0
    assert metric(st, 'brightsync_api_requests_total{api="crm"') > 0
    assert metric(st, "brightsync_webhooks_received_total") >= 2
    assert metric(st, 'brightsync_sync_run_seconds_count{service="email"}') >= 2
    assert 'brightsync_queue_depth{queue="intake"}' in st.admin("GET", "/metrics").text

    # And the run series the dashboard charts has it, for this organisation only.
    points = st.admin("GET", f"/api/v1/orgs/{org_id}/runs", params={"hours": 1}).json()["points"]
    assert sum(p["synced"] for p in points) >= 2  # hello and the held message, in runs
    assert sum(p["runs"] for p in points) >= 3

    # A foreground sync with LOG_FORMAT=json: one JSON object per line, ids on the run's lines,
    # and neither the mailbox token nor the CRM token anywhere in the output.
    from tests.conftest import ADMIN_TOKEN, CRM_TOKEN

    out = subprocess.run(
        [sys.executable, "-m", "brightsync", "-v", "sync", str(uid)],
        env={**clean_environ(), **st.env, "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.strip()]
    started = [x for x in lines if "started" in x["event"]]
    assert started and started[0]["user_id"] == uid and started[0]["org_id"] == org_id
    for secret in (alice["accessToken"], CRM_TOKEN, ADMIN_TOKEN):
        assert secret not in out.stderr + out.stdout
