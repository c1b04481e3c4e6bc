"""Saved and Snooze in the center (issue 13), in real Chromium against the live server."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.test_center import server_state
from tests.browser.test_pages import LIVE, bell, titles, wait_live

pytestmark = pytest.mark.browser


def test_star_by_keyboard_keeps_an_item_in_saved_and_other_tabs_follow(browser, daphne_server, contexts):
    # given nora's center open in two tabs, both live
    context = login(browser, daphne_server, "nora")
    contexts.append(context)
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.goto("/notifications/")
        wait_live(page)
    star = first.get_by_role("button", name="Save: Nora keep")
    expect(star).to_have_attribute("aria-pressed", "false")

    # when she stars it with the keyboard (focus, Space)
    star.focus()
    first.keyboard.press("Space")

    # then it is pressed here, in the other tab (notification_updated with `saved`), and on the server
    expect(star).to_have_attribute("aria-pressed", "true", timeout=LIVE)
    expect(star).to_be_focused()
    expect(second.get_by_role("button", name="Save: Nora keep")).to_have_attribute("aria-pressed", "true", timeout=LIVE)
    assert server_state(daphne_server, context)["Nora keep"]["saved_at"] is not None

    # and the Saved view lists it and nothing else, also after it is read and archived there
    first.get_by_role("link", name="Saved").click()
    first.wait_for_url(re.compile(r"status=saved"))
    wait_live(first)
    assert titles(first) == ["Nora keep"]
    item = first.locator("#notification-list .n-item", has_text="Nora keep")
    item.get_by_role("button", name=re.compile("^Mark as read")).click()
    item.get_by_role("button", name=re.compile("^Archive")).click()
    expect(item).to_have_class(re.compile(r"\bis-archived\b"), timeout=LIVE)
    assert titles(first) == ["Nora keep"]
    first.reload()
    assert titles(first) == ["Nora keep"]

    # when the star is pressed again (the s shortcut), it leaves the Saved view at once, and the empty state shows
    first.locator("#notification-list .n-item", has_text="Nora keep").focus()
    first.keyboard.press("s")
    expect(first.locator("#notification-list .n-item")).to_have_count(0, timeout=LIVE)
    expect(first.locator("#center-empty")).to_contain_text("Nothing saved.")
    # (the other tab's inbox dropped it when it was archived)
    expect(second.locator("#notification-list .n-item", has_text="Nora keep")).to_have_count(0, timeout=LIVE)
    assert server_state(daphne_server, context)["Nora keep"]["saved_at"] is None
    expect(bell(first)).to_have_accessible_name(re.compile(r"^Notifications, \d+ unread"))
