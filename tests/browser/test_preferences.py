"""The preferences page in real Chromium: do-not-disturb beside unsaved edits (issue "the center and admin as
people use them"). judy is this module's own user (tests/browser/dataset.py)."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login

pytestmark = pytest.mark.browser

LIVE = 10_000  # ms Playwright waits for something to appear; a budget against hangs, not a latency assertion


def test_do_not_disturb_keeps_unsaved_channel_edits(browser, daphne_server, contexts):
    # given judy on her preferences page with an unsaved change: email for comments switched off
    context = login(browser, daphne_server, "judy")
    contexts.append(context)
    page = context.new_page()
    page.goto("/preferences/")
    page.evaluate("window.__samePage = true")
    email_for_comments = page.get_by_label("Comments: Email")
    expect(email_for_comments).to_be_checked()
    email_for_comments.uncheck()

    # when she turns do-not-disturb on for an hour
    page.get_by_role("button", name="For 1 hour").click()

    # then the card says so, on the same page, and her edit is still there (not saved, not lost)
    expect(page.locator("#dnd-status")).to_have_text(re.compile(r"^On until \w{3} \d\d:\d\d \(UTC\)\. "), timeout=LIVE)
    assert page.evaluate("window.__samePage") is True
    expect(email_for_comments).not_to_be_checked()
    document = page.evaluate("fetch('/api/v1/preferences/').then(r => r.json())")
    assert document["muted_until"] is not None
    assert document["channels"]["comment"]["email"] is True

    # and saving the form afterwards saves the edit and keeps do-not-disturb on
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_text("Preferences saved.")).to_be_visible()
    expect(page.get_by_label("Comments: Email")).not_to_be_checked()
    expect(page.locator("#dnd-status")).to_have_text(re.compile(r"^On until "))
    document = page.evaluate("fetch('/api/v1/preferences/').then(r => r.json())")
    assert document["channels"]["comment"]["email"] is False
    assert document["muted_until"] is not None

    # and "Off" turns it off the same way
    page.get_by_role("button", name="Off", exact=True).click()
    expect(page.locator("#dnd-status")).to_have_text("Off.", timeout=LIVE)
    assert page.evaluate("fetch('/api/v1/preferences/').then(r => r.json())")["muted_until"] is None


def test_do_not_disturb_works_without_javascript(browser, daphne_server, contexts):
    # given judy's preferences page in a browser without JavaScript
    context = login(browser, daphne_server, "judy", java_script_enabled=False)
    contexts.append(context)
    page = context.new_page()
    page.goto("/preferences/")
    # when she turns do-not-disturb on until tomorrow
    page.get_by_role("button", name="Until tomorrow").click()
    # then the form posts, the page comes back with the message and the card, both at 08:00
    expect(page.locator(".flash")).to_have_text(re.compile(r"Do not disturb until \w{3} 08:00 \(UTC\)\."))
    expect(page.locator("#dnd-status")).to_have_text(re.compile(r"^On until \w{3} 08:00 \(UTC\)\. "))
    page.get_by_role("button", name="Off", exact=True).click()
    expect(page.locator("#dnd-status")).to_have_text("Off.")
