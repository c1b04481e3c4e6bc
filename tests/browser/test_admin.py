"""The staff admin in real Chromium under the strict CSP: announce with a preview, then that send's delivery
progress and the notification page, each without a single CSP violation. Screenshots go to test-artifacts/."""

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login

pytestmark = pytest.mark.browser

LIVE = 10_000  # ms Playwright waits for something to appear; a budget against hangs, not a latency assertion
GROUP = "admin-browser"


def watch_csp(page: Any) -> None:
    """Record the page's CSP violations (a listener installed before any of its scripts run)."""
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')))"
    )


def violations(page: Any) -> list[str]:
    page.wait_for_load_state("networkidle")
    return page.evaluate("window.__csp")


def _join_group(page: Any, user_id: int) -> None:
    """Sam gets a group of his own, so the announcement reaches him only (other tests' inboxes stay as seeded)."""
    page.goto("/admin/auth/group/add/")
    page.get_by_label("Name:").fill(GROUP)
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist .success")).to_be_visible(timeout=LIVE)
    page.goto(f"/admin/auth/user/{user_id}/change/")
    page.locator("#id_groups_from").select_option(label=GROUP)
    page.locator("#id_groups_add").click()
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist .success")).to_be_visible(timeout=LIVE)


def test_announce_preview_send_and_progress_under_the_strict_csp(browser, daphne_server, contexts, artifacts):
    # given sam (staff), in a group of his own, with every page watched for CSP violations
    context = login(browser, daphne_server, "sam", viewport={"width": 1280, "height": 900})
    contexts.append(context)
    page = context.new_page()
    watch_csp(page)
    _join_group(page, daphne_server.users["sam"])

    # when he fills in the announcement form and asks for a preview
    page.goto("/admin/notifications/content/announce/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Send announcement")
    page.get_by_label("Audience:").select_option(label=f"Group: {GROUP}")
    page.get_by_label("Title:").fill("Maintenance tonight")
    page.get_by_label("Body:").fill("<b>The site is down</b> from 22:00 to 23:00.")
    page.get_by_label("Url:").fill("/notifications/")
    page.get_by_role("button", name="Preview").click()

    # then the preview shows it as it will read, and its reach; nothing on the page was blocked
    expect(page.locator("#announce-reach")).to_have_text("This will reach 1 user.", timeout=LIVE)
    expect(page.locator("#preview-title")).to_have_text("Maintenance tonight")
    expect(page.locator("#preview-body")).to_have_text("<b>The site is down</b> from 22:00 to 23:00.")
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    page.screenshot(path=artifacts / "admin-announce-preview.png", full_page=True)
    assert violations(page) == []

    # when he sends it
    page.get_by_role("button", name="Send", exact=True).click()

    # then he lands on that send's delivery progress, with the success message, still without violations
    page.wait_for_url(re.compile(r"/admin/notifications/content/\d+/fan-out/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Delivery progress")
    expect(page.locator(".messagelist .success")).to_contain_text("Announcement queued")
    expect(page.locator("#fan-out-summary")).to_contain_text("Recipients")
    expect(page.locator("#fan-out-deliveries")).to_be_visible()
    page.screenshot(path=artifacts / "admin-fan-out.png", full_page=True)
    assert violations(page) == []

    # and the notification list and a notification's page (deliveries inline) run under the policy too
    page.goto("/admin/notifications/notification/")
    expect(page.locator("#result_list")).to_be_visible(timeout=LIVE)
    assert violations(page) == []
    page.locator("#result_list tbody tr").first.locator("th a").click()
    expect(page.locator("#deliveries-group")).to_be_attached(timeout=LIVE)
    page.screenshot(path=artifacts / "admin-notification.png", full_page=True)
    assert violations(page) == []


def test_the_dashboard_is_accessible_and_linked_from_the_admin_index(browser, daphne_server, contexts, artifacts):
    from tests.browser.pages import axe_serious

    context = login(browser, daphne_server, "sam", viewport={"width": 1280, "height": 900})
    contexts.append(context)
    page = context.new_page()
    watch_csp(page)
    page.goto("/admin/")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Sends", level=2)).to_be_visible(timeout=LIVE)
    expect(page.get_by_role("img", name=re.compile(r"^Sends per hour"))).to_be_visible(timeout=LIVE)
    page.get_by_role("link", name="last 7d").click()
    expect(page.get_by_text("last 7d", exact=True)).to_have_attribute("aria-current", "page")
    page.screenshot(path=str(artifacts / "admin-dashboard.png"), full_page=True)
    assert axe_serious(page, "admin-dashboard", artifacts) == []
    assert violations(page) == []
