"""The center by keyboard, axe in light and dark, and screenshots, in real Chromium against a live daphne server.

Each test uses its own user from tests/browser/dataset.py, so tests sharing the session's server never see each
other's notifications.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.pages import axe_serious, bell

pytestmark = pytest.mark.browser


# --- Keyboard, accessibility, screenshots ------------------------------------------------------------------


def test_dropdown_by_keyboard_escape_returns_focus_to_the_bell(browser, daphne_server, contexts):
    context = login(browser, daphne_server, "erin")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")

    page.keyboard.press("Tab")  # skip link
    while page.evaluate("document.activeElement.id") != "bell":
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    panel = page.locator("#bell-panel")
    expect(panel).to_be_visible()
    expect(bell(page)).to_have_attribute("aria-expanded", "true")
    # focus on the first item (not the heading); arrow keys move between items and wrap
    first = page.locator("#bell-list .dd-item a").first
    expect(first).to_be_focused()
    assert first.inner_text().startswith("Erin second")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#bell-list .dd-item a").nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(first).to_be_focused()
    page.keyboard.press("End")
    expect(page.get_by_role("link", name="See all notifications")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(first).to_be_focused()

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(bell(page)).to_be_focused()
    expect(bell(page)).to_have_attribute("aria-expanded", "false")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations_and_screenshots(browser, daphne_server, contexts, artifacts, scheme):
    problems: dict[str, list[str]] = {}
    for width, height in ((360, 740), (1280, 900)):
        context = login(
            browser,
            daphne_server,
            "carol",
            viewport={"width": width, "height": height},
            color_scheme=scheme,
            reduced_motion="reduce",
        )
        contexts.append(context)
        page = context.new_page()

        page.goto("/notifications/")
        page.screenshot(path=artifacts / f"center-{width}-{scheme}.png", full_page=width == 360)
        problems[f"center-{width}"] = axe_serious(page, f"center-{width}-{scheme}", artifacts)
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        for status in ("unread", "archived"):
            page.goto(f"/notifications/?status={status}")
            page.screenshot(path=artifacts / f"center-{status}-{width}-{scheme}.png", full_page=width == 360)
            problems[f"center-{status}-{width}"] = axe_serious(page, f"center-{status}-{width}-{scheme}", artifacts)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.locator("#notification-list input.n-select").first.check()
        page.keyboard.press("?")
        expect(page.locator("#shortcuts")).to_be_visible()
        page.screenshot(path=artifacts / f"center-shortcuts-{width}-{scheme}.png")
        problems[f"shortcuts-{width}"] = axe_serious(page, f"shortcuts-{width}-{scheme}", artifacts)
        page.keyboard.press("Escape")

        bell(page).click()
        expect(page.locator("#bell-panel")).to_be_visible()
        page.screenshot(path=artifacts / f"dropdown-{width}-{scheme}.png")
        problems[f"dropdown-{width}"] = axe_serious(page, f"dropdown-{width}-{scheme}", artifacts)

        page.goto("/preferences/")
        page.screenshot(path=artifacts / f"preferences-{width}-{scheme}.png", full_page=True)
        problems[f"preferences-{width}"] = axe_serious(page, f"preferences-{width}-{scheme}", artifacts)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert problems == {key: [] for key in problems}
