"""The spine on real workers, on both backends: register, webhook in, task run, status out."""

from __future__ import annotations

import json

import requests

from brightsync.signing import signed_headers
from tests.conftest import SIGNING_SECRET, wait_for
from tests.support.helpers import deliver, make_org, make_user, person, wait_first_sync


def test_admin_api_requires_the_bearer_token(clean_stack):
    r = requests.get(clean_stack.web_url + "/api/v1/orgs", timeout=10)
    assert r.status_code == 401
    r = requests.get(
        clean_stack.web_url + "/api/v1/orgs", timeout=10, headers={"Authorization": "Bearer nope"}
    )
    assert r.status_code == 401


def test_bad_input_gets_field_errors(clean_stack):
    r = clean_stack.admin(
        "POST",
        "/api/v1/orgs",
        json={"name": "", "domains": ["not a domain"], "crm": {"authType": "digest"}},
    )
    assert r.status_code == 400
    fields = r.json()["fields"]
    assert {"name", "domains", "crm"} <= set(fields)
    r = clean_stack.admin(
        "POST", "/api/v1/orgs", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert clean_stack.admin("GET", "/api/v1/users/999").status_code == 404


def test_registering_a_user_subscribes_through_the_handshake(clean_stack):
    org_id = make_org(clean_stack)
    user = make_user(clean_stack, org_id, "alice@acme.com")
    subs = user["subscriptions"]
    assert [s["service"] for s in subs] == ["email"]
    assert subs[0]["state"] == "active" and subs[0]["lastError"] is None
    assert subs[0]["id"]
    status = clean_stack.admin("GET", f"/api/v1/users/{user['id']}").json()
    assert status["status"]["email"]["subscription"]["healthy"] is True
    assert "aurinkoAccessToken" not in json.dumps(status)
    assert user["accessToken"] not in json.dumps(status)
    # The simulator holds exactly one subscription, pointing at our webhook URL.
    listed = clean_stack.aurinko(
        "GET", "/v1/subscriptions", headers={"Authorization": f"Bearer {user['accessToken']}"}
    )
    records = listed.json()["records"]
    assert [(r["resource"], r["notificationUrl"]) for r in records] == [
        ("/email/messages", clean_stack.web_url + "/webhooks/aurinko")
    ]


def test_mail_arriving_triggers_a_webhook_sync_on_the_worker(clean_stack):
    org_id = make_org(clean_stack)
    user = make_user(clean_stack, org_id, "alice@acme.com")

    def status():
        return clean_stack.admin("GET", f"/api/v1/users/{user['id']}").json()["status"]["email"]

    # Registration starts the first sync at once; the mail then arrives by webhook.
    first = wait_first_sync(clean_stack, user["id"])["email"]
    deliver(
        clean_stack,
        **{
            "from": person("dave@customer.com"),
            "to": [person("alice@acme.com")],
            "subject": "hello",
            "body": "<p>hi</p>",
            "bodyType": "html",
        },
    )

    def synced():
        st = status()
        return st if st["runs"] > first["runs"] and st["state"] == "idle" else None

    st = wait_for(synced, timeout=60, message="a webhook-triggered sync to finish")
    assert st["counts"]["messages"] >= 1
    assert "brightsync.sync.run" in clean_stack.worker.log()


def test_a_signed_webhook_posted_by_hand_runs_a_task(clean_stack):
    org_id = make_org(clean_stack)
    user = make_user(clean_stack, org_id, "bob@acme.com")
    body = json.dumps(
        {
            "subscription": 1,
            "resource": "/email/messages",
            "accountId": user["accountId"],
            "payloads": [{"id": "x", "changeType": "created"}],
        }
    ).encode()
    r = requests.post(
        clean_stack.web_url + "/webhooks/aurinko",
        data=body,
        headers={**signed_headers(SIGNING_SECRET, body), "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200
    assert r.json()["status"] in ("enqueued", "coalesced")

    def ran():
        st = clean_stack.admin("GET", f"/api/v1/users/{user['id']}").json()["status"]["email"]
        return st["runs"] >= 1 and st["state"] in ("idle", "queued")

    wait_for(ran, timeout=60, message="the hand-posted notification to run a sync")
    log = clean_stack.worker.log()
    assert f"sync email for user {user['id']} started" in log
    assert "Task brightsync.sync.run[" in log and "succeeded" in log


def test_healthz_and_metrics(clean_stack):
    r = requests.get(clean_stack.web_url + "/healthz", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    make_org(clean_stack)
    metrics = requests.get(clean_stack.web_url + "/metrics", timeout=10).text
    assert "# TYPE brightsync_webhooks_received_total counter" in metrics
    assert "brightsync_mailboxes_needing_reauth 0.0" in metrics


def test_openapi_document_lists_the_admin_api(clean_stack):
    doc = requests.get(clean_stack.web_url + "/api/v1/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/v1/orgs",
        "/api/v1/orgs/{orgId}/users",
        "/api/v1/users/{userId}/sync",
        "/api/v1/orgs/{orgId}/unmatched",
        "/api/v1/orgs/{orgId}/emails",
    ):
        assert path in doc["paths"]
    assert "OrgCreate" in doc["components"]["schemas"]


def test_safety_sync_runs_accounts_whose_webhooks_went_quiet(clean_stack):
    from brightsync.celery import app

    org_id = make_org(clean_stack)
    user = make_user(clean_stack, org_id, "quiet@acme.com")
    app.send_task("brightsync.maintenance.safety_sync")

    def ran():
        st = clean_stack.admin("GET", f"/api/v1/users/{user['id']}").json()["status"]["email"]
        return st["runs"] >= 1

    wait_for(ran, timeout=60, message="the safety sync to run the quiet account")


def test_subscription_check_recreates_a_lost_subscription(clean_stack):
    from datetime import timedelta

    from sqlalchemy import update

    from brightsync.db import session_scope
    from brightsync.models import Subscription, utcnow
    from brightsync.subscriptions import VERIFY_EVERY
    from brightsync.sync.jobs import check_subscriptions

    org_id = make_org(clean_stack)
    user = make_user(clean_stack, org_id, "lost@acme.com")
    old_id = user["subscriptions"][0]["id"]
    auth = {"Authorization": f"Bearer {user['accessToken']}"}
    assert clean_stack.aurinko("DELETE", f"/v1/subscriptions/{old_id}", headers=auth).ok
    assert check_subscriptions() == 0  # verified at registration: not due before a day
    with session_scope() as s:  # a day later it is due for verification again
        s.execute(
            update(Subscription)
            .where(Subscription.user_id == user["id"])
            .values(checked_at=utcnow() - VERIFY_EVERY - timedelta(minutes=1))
        )
    assert check_subscriptions() == 1
    records = clean_stack.aurinko("GET", "/v1/subscriptions", headers=auth).json()["records"]
    assert len(records) == 1 and str(records[0]["id"]) != str(old_id)
    status = clean_stack.admin("GET", f"/api/v1/users/{user['id']}").json()
    assert status["status"]["email"]["subscription"]["id"] == str(records[0]["id"])
    assert check_subscriptions() == 0  # healthy now: nothing to do


def test_each_published_task_is_delivered_to_one_queue_once(clean_stack):
    from brightsync.celery import app

    result = app.send_task("brightsync.maintenance.prune_notifications")
    needle = f"brightsync.maintenance.prune_notifications[{result.id}] succeeded"
    wait_for(lambda: needle in clean_stack.worker.log(), timeout=60, message="the task to run")
    import time

    time.sleep(2)  # a copy bound to a second queue would arrive within the poll interval
    log = clean_stack.worker.log()
    assert log.count(f"brightsync.maintenance.prune_notifications[{result.id}] received") == 1


def test_a_long_sync_shows_its_progress_while_running(clean_stack):
    org_id = make_org(clean_stack)
    clean_stack.aurinko("POST", "/_control/settings", json={"pageSize": 2}).raise_for_status()
    # Mail arrives before the mailbox is registered: no webhook runs; the first sync reads it.
    account = clean_stack.aurinko(
        "POST", "/_control/accounts", json={"email": "busy@acme.com", "provider": "imap"}
    ).json()
    for i in range(6):
        deliver(
            clean_stack,
            **{
                "from": person("news@acme.com"),
                "to": [person("busy@acme.com")],
                "subject": f"n{i}",
                "body": "x",
                "bodyType": "text",
            },
        )
    clean_stack.aurinko(
        "POST",
        "/_control/faults",
        json={"path": "/v1/email/sync/updated", "delay": 1.5, "count": 4},
    ).raise_for_status()
    user = clean_stack.admin(
        "POST",
        f"/api/v1/orgs/{org_id}/users",
        json={
            "email": "busy@acme.com",
            "aurinkoAccountId": account["id"],
            "aurinkoAccessToken": account["accessToken"],
            "services": ["email"],
        },
    ).json()
    clean_stack.admin("POST", f"/api/v1/users/{user['id']}/sync", json={})

    def midway():
        st = clean_stack.admin("GET", f"/api/v1/users/{user['id']}").json()["status"]["email"]
        return st if st["state"] == "running" and (st["progress"] or {}).get("messages") else None

    st = wait_for(midway, timeout=60, interval=0.1, message="progress of a running sync")
    assert 0 < st["progress"]["messages"] < 6

    def finished():
        st = clean_stack.admin("GET", f"/api/v1/users/{user['id']}").json()["status"]["email"]
        return st if st["state"] == "idle" else None

    done = wait_for(finished, timeout=60, message="the sync to finish")
    assert done["progress"] is None and done["counts"]["messages"] == 6


def test_webhook_send_posts_a_signed_notification_by_hand(clean_stack):
    import subprocess
    import sys

    from tests.conftest import clean_environ

    org_id = make_org(clean_stack)
    user = make_user(clean_stack, org_id, "hand@acme.com")
    env = {
        **clean_environ(),
        "AURINKO_SIGNING_SECRET": SIGNING_SECRET,
        "BRIGHTSYNC_PUBLIC_URL": clean_stack.web_url,
        "BRIGHTSYNC_INSTANCE_PATH": str(clean_stack.backend.workdir / "cli"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "brightsync", "webhook", "send", str(user["accountId"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("200 ") and '"service":"email"' in out.stdout.replace(" ", "")
    wrong = subprocess.run(
        [sys.executable, "-m", "brightsync", "webhook", "send", "1"],
        env={**env, "AURINKO_SIGNING_SECRET": "not-the-secret"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 1 and wrong.stdout.startswith("401 ")
