"""The connect flow in a real headless Chromium: the provider choice, Aurinko's (simulated)
consent page, and BrightSync's closing page. Screenshots go to a temporary directory, or
into docs/ with BRIGHTSYNC_SCREENSHOTS=docs (the README shows them)."""

from __future__ import annotations

import pytest

from tests.support.helpers import make_org
from tests.web.test_dashboard_browser import CHROMIUM_FLAGS, DOCS, _chromium, screenshot_dir


def test_a_user_connects_a_mailbox_in_a_browser(clean_stack, tmp_path):
    st = clean_stack
    if st.backend.name != "embedded":
        pytest.skip("the pages are the same on both backends; one browser run is enough")
    chromium = _chromium()
    shots = screenshot_dir(tmp_path)
    pictures = {p: p.stat().st_mtime_ns for p in DOCS.glob("connect-*.png")}
    from playwright.sync_api import expect, sync_playwright

    org_id = make_org(st)
    r = st.admin("POST", f"/api/v1/orgs/{org_id}/connect-links", json={"email": "erin@acme.com"})
    assert r.status_code == 201, r.text
    st.aurinko("POST", "/_control/auth", json={"decision": "page"})
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 640})
            page.goto(r.json()["url"])
            expect(page.locator("h1")).to_have_text("Connect your mailbox")
            page.screenshot(path=str(shots / "connect-choose.png"))
            page.click("#providers >> text=Microsoft 365")
            expect(page.locator("h1")).to_have_text("Sign in to Office365")  # the simulator
            page.click("#approve")
            expect(page.locator("h1")).to_have_text("Mailbox connected")
            expect(page.locator("#message")).to_contain_text("erin@acme.com is connected")
            page.screenshot(path=str(shots / "connect-done.png"))
        finally:
            browser.close()
    users = st.admin("GET", f"/api/v1/orgs/{org_id}").json()["users"]
    assert len(users) == 1
    if shots != DOCS:
        assert {p: p.stat().st_mtime_ns for p in DOCS.glob("connect-*.png")} == pictures
