"""Every page runs under the strict Content-Security-Policy, in real Chromium against a live daphne server.

Each test uses its own user from tests/browser/dataset.py, so tests sharing the session's server never see each
other's notifications.
"""

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.pages import LIVE

pytestmark = pytest.mark.browser


# --- Content-Security-Policy ----------------------------------------------------------------------------------------


def csp_violations(page: Any) -> list[str]:
    """Collect the page's CSP violations (a listener installed before any of its scripts run)."""
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')))"
    )
    return []


CSP_PAGES = [
    ("carol", "/notifications/", "#notification-list"),
    ("carol", "/preferences/", "#main h1"),
    ("sam", "/admin/", "#content"),
    ("sam", "/admin/notifications/notification/", "#result_list"),
    ("sam", "/admin/notifications/category/add/", "#content form"),
    ("sam", "/admin/notifications/content/announce/", "#content form"),
    ("sam", "/admin/notifications/content/", "#changelist"),
    ("sam", "/admin/notifications/delivery/", "#changelist"),
    ("carol", "/api/v1/docs/", ".swagger-ui .info"),
]


@pytest.mark.parametrize("username,path,ready", CSP_PAGES)
def test_pages_run_under_the_strict_content_security_policy(browser, daphne_server, contexts, username, path, ready):
    # given a logged-in user's page, watched for CSP violations from its first script on
    context = login(browser, daphne_server, username)
    contexts.append(context)
    page = context.new_page()
    csp_violations(page)
    response = page.goto(path)
    # then it is served with the policy, renders, and nothing on it was blocked
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(ready).first).to_be_visible(timeout=LIVE)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__csp") == []
    # and an injected inline script does not run (the policy is enforced, not just sent)
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        " document.body.append(s) }"
    )
    assert page.evaluate("window.__ran") is None
    assert any(v.startswith("script-src") for v in page.evaluate("window.__csp"))
