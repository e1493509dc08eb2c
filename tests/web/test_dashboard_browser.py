"""The dashboard in a real headless Chromium: log in, open a user, sync now, see it change.

Screenshots of the pages go to a temporary directory. To refresh the ones the README shows,
run it with BRIGHTSYNC_SCREENSHOTS=docs (they are written into docs/).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN, IN_CI
from tests.support.helpers import (
    make_org,
    make_user,
    person,
    seed_contacts,
    send,
    wait_decided,
    wait_idle,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCREENSHOTS = "BRIGHTSYNC_SCREENSHOTS"  # "docs": refresh the README's pictures in docs/
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        path, reason = None, f"playwright is not installed ({exc})"
    else:
        reason = "Debian's chromium is not installed (apt-get install chromium)"
    if path is None:
        if IN_CI:
            pytest.fail(reason + " — CI=true requires the browser test")
        pytest.skip(reason)
    return path


def screenshot_dir(tmp_path: Path) -> Path:
    """Where the pictures go: docs/ only when asked, so a test run leaves the checkout clean."""
    return DOCS if os.environ.get(SCREENSHOTS, "").strip().lower() == "docs" else tmp_path


def test_screenshots_go_into_docs_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(SCREENSHOTS, raising=False)
    assert screenshot_dir(tmp_path) == tmp_path
    monkeypatch.setenv(SCREENSHOTS, "docs")
    assert screenshot_dir(tmp_path) == DOCS


def test_operator_logs_in_opens_a_user_and_syncs_now(clean_stack, tmp_path):
    st = clean_stack
    shots = screenshot_dir(tmp_path)
    pictures = {p: p.stat().st_mtime_ns for p in DOCS.glob("dashboard-*.png")}
    if st.backend.name != "embedded":
        pytest.skip("the page is the same on both backends; one browser run is enough")
    chromium = _chromium()
    from playwright.sync_api import expect, sync_playwright

    org_id = make_org(st)
    alice = make_user(st, org_id, "alice@acme.com")
    make_user(st, org_id, "bob@acme.com")
    seed_contacts(
        st, {"firstName": "Dave", "lastName": "Customer", "emailAddresses": ["dave@customer.com"]}
    )
    msg = send(st, person("dave@customer.com"), ["alice@acme.com"], "Renewal quote")
    send(st, person("erin@prospect.io"), ["alice@acme.com"], "Intro from a stranger")
    wait_decided(st, org_id, msg["internetMessageId"], "logged")
    wait_idle(st, [alice["id"]])

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 860})
            page.goto(st.web_url + "/dashboard/")
            expect(page.locator("h1")).to_have_text("Operator login")  # no data without it
            page.fill("#token", "wrong")
            page.click("button[type=submit]")
            expect(page.locator("#login-error")).to_be_visible()
            page.fill("#token", ADMIN_TOKEN)
            page.click("button[type=submit]")
            expect(page.locator("#orgs")).to_contain_text("Acme")

            page.click("#orgs >> text=Acme")
            expect(page.locator("#users")).to_contain_text("alice@acme.com")
            expect(page.locator("#decisions")).to_contain_text("Renewal quote")
            expect(page.locator("#cache")).to_contain_text("1")
            # What the connector gets each domain, from what the run found out.
            expect(page.locator('#reach tr[data-domain="email"]')).to_contain_text("email")
            page.screenshot(path=str(shots / "dashboard-organisation.png"), full_page=True)

            page.click("#decisions >> tr:has-text('Renewal quote') >> text=why?")
            expect(page.locator("#why")).to_contain_text("logged")
            expect(page.locator("#why")).to_contain_text("alice@acme.com")
            page.go_back()

            page.click("#users >> text=alice@acme.com")
            card = page.locator('.card[data-service="email"]')
            expect(card.locator('[data-field="health"]')).to_have_text("active")
            runs = int(card.locator('[data-field="runs"]').inner_text())

            page.click("#user-actions button[data-action=sync]")
            expect(page.locator(".flash")).to_contain_text("Sync requested: email")
            # The cards refresh themselves: the new run appears without reloading the page.
            expect(card.locator('[data-field="runs"]')).to_have_text(str(runs + 1), timeout=30000)
            expect(card.locator('[data-field="state"]')).to_have_text("idle")
            page.screenshot(path=str(shots / "dashboard-user.png"), full_page=True)

            page.click("#user-actions button[data-action=pause]")
            expect(page.locator("h1 .pill")).to_have_text("paused")
            expect(card.locator('[data-field="health"]')).to_have_text("paused")
            page.click("#user-actions button[data-action=sync]")
            expect(page.locator(".flash.error")).to_contain_text("paused")
            page.click("#user-actions button[data-action=resume]")
            expect(card.locator('[data-field="health"]')).to_have_text("active", timeout=30000)
        finally:
            browser.close()
    assert (shots / "dashboard-organisation.png").stat().st_size > 0
    assert (shots / "dashboard-user.png").stat().st_size > 0
    if shots != DOCS:  # the checkout stays as it was
        assert {p: p.stat().st_mtime_ns for p in DOCS.glob("dashboard-*.png")} == pictures
