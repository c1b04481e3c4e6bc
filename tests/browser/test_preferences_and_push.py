"""The preferences page and the service worker's push in real Chromium against a live daphne server.

Each test uses its own user from tests/browser/dataset.py, so tests sharing the session's server never see each
other's notifications.
"""

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.pages import service_worker_push

pytestmark = pytest.mark.browser


# --- Preferences ---------------------------------------------------------------------------------------------


def test_preferences_channel_toggle_persists_mandatory_locked_quiet_hours_timezone(browser, daphne_server, contexts):
    # given dave, who never saved preferences, in a browser in New York
    context = login(browser, daphne_server, "dave", timezone_id="America/New_York")
    contexts.append(context)
    page = context.new_page()
    page.goto("/preferences/")
    expect(page.get_by_label("Time zone")).to_have_value("America/New_York")
    email_for_comments = page.get_by_label("Comments: Email")
    expect(email_for_comments).to_be_checked()

    # the mandatory category is locked on, with the reason
    for channel in ("In-app", "Email"):
        locked = page.get_by_label(f"Security alerts: {channel} (required)")
        expect(locked).to_be_checked()
        expect(locked).to_be_disabled()
        expect(locked).to_have_accessible_description(re.compile("Required: security alerts"))
        locked.click(force=True)
        expect(locked).to_be_checked()

    # when email for comments is switched off and quiet hours are set in Tokyo time
    email_for_comments.uncheck()
    page.get_by_label("Pause email and push during quiet hours").check()
    page.get_by_label("From").fill("22:00")
    page.get_by_label("To", exact=True).fill("07:00")
    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    page.get_by_label("Daily summary").check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_text("Preferences saved.")).to_be_visible()

    # then a reload shows exactly that, and nothing else changed
    page.reload()
    expect(page.get_by_label("Comments: Email")).not_to_be_checked()
    expect(page.get_by_label("Comments: In-app")).to_be_checked()
    expect(page.get_by_label("Comments: Push")).to_be_checked()
    expect(page.get_by_label("Security alerts: Email (required)")).to_be_checked()
    expect(page.get_by_label("Pause email and push during quiet hours")).to_be_checked()
    expect(page.get_by_label("From")).to_have_value("22:00")
    expect(page.get_by_label("To", exact=True)).to_have_value("07:00")
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Tokyo")
    expect(page.get_by_label("Daily summary")).to_be_checked()

    # and the REST API (what every other client reads) agrees
    document = page.evaluate("fetch('/api/v1/preferences/').then(r => r.json())")
    assert document["channels"]["comment"] == {"in_app": True, "email": False, "push": True}
    assert document["channels"]["security"]["email"] is True
    assert document["quiet_hours"] == {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Asia/Tokyo"}
    assert document["email_digest"] == "daily"

    # and do-not-disturb for one hour is shown in the chosen time zone
    page.get_by_role("button", name="For 1 hour").click()
    expect(page.locator("#dnd-status")).to_contain_text("(Asia/Tokyo)")
    page.get_by_role("button", name="Off", exact=True).click()
    expect(page.locator("#dnd-status")).to_have_text("Off.")


def test_service_worker_shows_a_pushed_notification(browser, daphne_server, contexts):
    # given gina on the preferences page with the notifications permission granted
    context = login(browser, daphne_server, "gina", permissions=["notifications"])
    contexts.append(context)
    page = context.new_page()
    page.goto("/preferences/")
    # when she enables browser notifications (registers /sw.js) and a push message arrives for it
    push = service_worker_push(context, page, daphne_server)
    # the delivery channel's payload (notifications/delivery/webpush.py), plus actions
    payload = {
        "id": "7f1c",
        "title": "Pushed title",
        "body": "Pushed body",
        "url": "/notifications/",
        "tag": "post:42",
        "category": "comment",
        "priority": "high",
        "actions": [{"label": "Open", "url": "/notifications/"}],
    }

    # then the service worker shows it with its title, body, icon and action (delivered again if the worker was
    # still starting: the same tag replaces, never adds)
    shown: list[dict[str, Any]] = []
    for _attempt in range(3):
        push(payload)
        deadline = time.monotonic() + 5
        while not shown and time.monotonic() < deadline:
            page.wait_for_timeout(100)
            shown = page.evaluate(
                """async () => (await (await navigator.serviceWorker.ready).getNotifications()).map(n => ({
                    title: n.title, body: n.body, icon: n.icon, data: n.data, actions: n.actions.map(a => a.title)}))"""
            )
        if shown:
            break
    assert len(shown) == 1
    assert shown[0]["title"] == "Pushed title"
    assert shown[0]["body"] == "Pushed body"
    assert shown[0]["icon"].endswith("/static/notifications/icon.svg")
    assert shown[0]["actions"] == ["Open"]
    assert shown[0]["data"]["url"] == f"{daphne_server.url}/notifications/"
