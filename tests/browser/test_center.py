"""The center as people use it (issue "The center and admin as people use them"): opening marks read, focus is
never lost, keyboard shortcuts with a help sheet, undo, the offline queue, toasts and badge that cover nothing,
a broken image that disappears, and the status pill after the network returns."""

import re
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.pages import LIVE, api_send, axe_serious, bell, titles, wait_live

pytestmark = pytest.mark.browser

FOCUS_VISIBLE = """() => {
  const el = document.activeElement;
  return el !== null && el !== document.body && el.getClientRects().length > 0;
}"""


def focus_is_visible(page: Any) -> bool:
    return page.evaluate(FOCUS_VISIBLE)


def server_state(server: Any, context: Any) -> dict[str, dict[str, Any]]:
    """The user's notifications as the API has them (title -> object), read with the browser's session."""
    session = requests.Session()
    for c in context.cookies():
        session.cookies.set(c["name"], c["value"], domain=c["domain"], path=c["path"])
    response = session.get(f"{server.url}/api/v1/notifications/?status=all&page_size=100", timeout=10)
    assert response.status_code == 200, response.text
    return {n["title"]: n for n in response.json()["results"]}


def test_opening_a_notification_marks_it_read_and_a_linkless_one_closes_the_dropdown(browser, daphne_server, contexts):
    context = login(browser, daphne_server, "liam")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)

    # a dropdown item without a URL: the panel closes, the item is focused, visible below the sticky header, read
    bell(page).click()
    page.locator("#bell-list a", has_text="Liam no link").click()
    expect(page.locator("#bell-panel")).to_be_hidden()
    item = page.locator("#notification-list .n-item", has_text="Liam no link")
    expect(item).to_be_focused()
    expect(item).not_to_have_class(re.compile(r"\bis-unread\b"), timeout=LIVE)
    header = page.locator(".site-header").bounding_box()
    box = item.bounding_box()
    assert box["y"] >= header["y"] + header["height"]

    # the title link to another page: it opens that page, and the notification is read there and after a reload
    page.locator("#notification-list .n-title a", has_text="Liam to preferences").click()
    page.wait_for_url(re.compile(r"/preferences/$"))
    page.goto("/notifications/")
    expect(page.locator("#notification-list .n-item.is-unread")).to_have_count(0)
    state = server_state(daphne_server, context)
    assert state["Liam to preferences"]["is_read"] is True
    assert state["Liam no link"]["is_read"] is True


def test_keyboard_walkthrough_with_shortcuts_undo_and_the_help_sheet(browser, daphne_server, contexts, artifacts):
    context = login(browser, daphne_server, "jack")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    assert titles(page) == ["Jack one", "Jack two", "Jack three", "Jack four"]

    # the bell by keyboard: Enter opens with focus on the first item, Escape returns to the bell
    bell(page).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#bell-list a").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(bell(page)).to_be_focused()

    # j moves to the first item, Enter opens it (no URL: it stays here) and it becomes read
    page.keyboard.press("j")
    first = page.locator("#notification-list .n-item", has_text="Jack one")
    expect(first).to_be_focused()
    page.keyboard.press("Enter")
    expect(first).not_to_have_class(re.compile(r"\bis-unread\b"), timeout=LIVE)
    assert focus_is_visible(page)

    # u toggles it back to unread, u again to read
    page.keyboard.press("u")
    expect(first).to_have_class(re.compile(r"\bis-unread\b"))
    page.keyboard.press("u")
    expect(first).not_to_have_class(re.compile(r"\bis-unread\b"))

    # j then e archives the second: it leaves the view, focus moves to the next item, Undo brings it back
    page.keyboard.press("j")
    expect(page.locator("#notification-list .n-item", has_text="Jack two")).to_be_focused()
    page.keyboard.press("e")
    expect(page.locator("#notification-list .n-item", has_text="Jack two")).to_have_count(0)
    expect(page.locator("#notification-list .n-item", has_text="Jack three")).to_be_focused()
    assert focus_is_visible(page)
    undo = page.get_by_role("button", name="Undo")
    undo.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#notification-list .n-item", has_text="Jack two")).to_have_count(1)
    assert titles(page) == ["Jack one", "Jack two", "Jack three", "Jack four"]
    assert server_state(daphne_server, context)["Jack two"]["archived_at"] is None

    # ? opens the shortcuts sheet (a modal dialog with focus inside), Escape closes it
    page.keyboard.press("?")
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(sheet).to_be_visible()
    assert page.evaluate("document.getElementById('shortcuts').contains(document.activeElement)")
    page.screenshot(path=artifacts / "center-shortcuts-1280.png")
    assert axe_serious(page, "center-shortcuts", artifacts) == []
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    assert focus_is_visible(page)


def test_a_second_press_while_the_first_is_in_flight_runs_after_it(browser, daphne_server, contexts):
    # given a new unread notification, and the center's state requests held until the test lets them go
    api_send(daphne_server, "liam", title="Liam quick presses")
    context = login(browser, daphne_server, "liam")
    contexts.append(context)
    page = context.new_page()
    held: list[Any] = []
    page.route("**/notifications/bulk/", lambda route: held.append(route) if not held else route.continue_())
    page.goto("/notifications/")
    wait_live(page)
    item = page.locator("#notification-list .n-item", has_text="Liam quick presses")
    item.focus()

    # when u (read) is pressed, and e (archive) while the read is still in flight
    page.keyboard.press("u")
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    page.keyboard.press("e")
    held[0].continue_()

    # then both happen, in order: read, then archived (it leaves the inbox)
    expect(item).to_have_count(0, timeout=LIVE)
    state = server_state(daphne_server, context)["Liam quick presses"]
    assert state["is_read"] is True
    assert state["archived_at"] is not None


def test_focus_stays_on_the_button_after_mark_read_and_moves_to_the_next_after_archive(
    browser, daphne_server, contexts
):
    context = login(browser, daphne_server, "jack")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    read = page.get_by_role("button", name=re.compile(r"^Mark as (read|unread): Jack three$"))
    read.focus()
    was = read.get_attribute("aria-label")
    page.keyboard.press("Enter")
    toggled = "Mark as unread: Jack three" if was.startswith("Mark as read") else "Mark as read: Jack three"
    expect(page.get_by_role("button", name=toggled)).to_be_focused()

    page.get_by_role("button", name="Archive: Jack three").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#notification-list .n-item", has_text="Jack three")).to_have_count(0)
    expect(page.get_by_role("button", name="Archive: Jack four")).to_be_focused()
    # put it back for the other tests of this user
    page.get_by_role("button", name="Undo").click()
    expect(page.locator("#notification-list .n-item", has_text="Jack three")).to_have_count(1)


def test_select_several_with_shift_click_then_mark_read_at_once(browser, daphne_server, contexts, artifacts):
    context = login(browser, daphne_server, "jack")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    boxes = page.locator("#notification-list input.n-select")
    boxes.nth(0).click()
    boxes.nth(2).click(modifiers=["Shift"])
    expect(page.locator("#bulk-count")).to_have_text("3 selected")
    page.screenshot(path=artifacts / "center-selection-1280.png")
    assert axe_serious(page, "center-selection", artifacts) == []
    page.get_by_role("button", name="Mark unread", exact=True).click()
    expect(page.locator("#bulk-count")).to_have_text("")
    state = server_state(daphne_server, context)
    assert [state[t]["is_read"] for t in ("Jack one", "Jack two", "Jack three")] == [False, False, False]
    page.get_by_label("Select all on this page").check()
    expect(page.locator("#bulk-count")).to_have_text("4 selected")


def test_actions_while_offline_are_queued_across_a_reload_and_applied_once(browser, daphne_server, contexts):
    context = login(browser, daphne_server, "kate")
    other = login(browser, daphne_server, "kate")
    contexts.extend([context, other])
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    watcher = other.new_page()
    watcher.goto("/notifications/")
    wait_live(watcher)

    # offline: archive two; they leave the view at once
    context.set_offline(True)
    for title in ("Kate one", "Kate two"):
        page.get_by_role("button", name=f"Archive: {title}").click()
    assert titles(page) == ["Kate three"]
    with pytest.raises(Exception):
        page.reload()  # no network, no page; the queue is in localStorage
    assert server_state(daphne_server, other)["Kate one"]["archived_at"] is None

    # back online: the page loads, applies the queue, and the other tab follows
    context.set_offline(False)
    page.goto("/notifications/")
    expect(watcher.locator("#notification-list .n-item")).to_have_count(1, timeout=LIVE)
    assert titles(page) == ["Kate three"]
    state = server_state(daphne_server, context)
    archived = {t: state[t]["archived_at"] for t in ("Kate one", "Kate two")}
    assert all(archived.values())
    page.wait_for_function("localStorage.getItem(`notify:${document.body.dataset.user}:outbox`) === null")
    page.reload()
    wait_live(page)
    again = server_state(daphne_server, context)
    assert {t: again[t]["archived_at"] for t in archived} == archived  # applied once: the times did not move


def test_toasts_cover_nothing_the_result_line_clears_and_a_broken_image_disappears(browser, daphne_server, contexts):
    context = login(browser, daphne_server, "gina", viewport={"width": 1280, "height": 900})
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    page.get_by_role("button", name="Send me a test notification").click()
    result = page.locator(".test-card .form-result")
    expect(result).to_have_text("Sent. It will appear in a moment.")
    toast = page.locator("#toasts .toast").first
    expect(toast).to_be_visible(timeout=LIVE)
    card, box = page.locator(".test-card").bounding_box(), toast.bounding_box()
    assert (
        box["x"] + box["width"] <= card["x"]
        or box["x"] >= card["x"] + card["width"]
        or (box["y"] >= card["y"] + card["height"] or box["y"] + box["height"] <= card["y"])
    )
    expect(result).to_have_text("", timeout=LIVE)

    api_send(
        daphne_server,
        "gina",
        title="Gina broken image",
        image_url=f"{daphne_server.url}/static/notifications/missing.png",
    )
    item = page.locator("#notification-list .n-item", has_text="Gina broken image")
    expect(item).to_have_count(1, timeout=LIVE)
    expect(item.locator("img.n-thumb")).to_be_hidden()
    page.reload()
    expect(
        page.locator("#notification-list .n-item", has_text="Gina broken image").locator("img.n-thumb")
    ).to_be_hidden()


def test_a_two_digit_badge_leaves_the_top_of_the_bell_visible(browser, daphne_server, contexts):
    context = login(browser, daphne_server, "gina")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    page.evaluate(
        "document.getElementById('bell-badge').hidden = false; document.getElementById('bell-badge').textContent = '42'"
    )
    badge = page.locator("#bell-badge").bounding_box()
    icon = page.locator("#bell svg").bounding_box()
    top_centre = (icon["x"] + icon["width"] / 2, icon["y"] + 2)
    inside = (
        badge["x"] <= top_centre[0] <= badge["x"] + badge["width"]
        and badge["y"] <= top_centre[1] <= badge["y"] + badge["height"]
    )
    assert not inside


def test_status_pill_returns_to_live_when_the_network_comes_back(browser, daphne_server, contexts):
    context = login(browser, daphne_server, "gina")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    context.set_offline(True)
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "offline", timeout=LIVE)
    context.set_offline(False)
    wait_live(page)
    expect(page.locator("#conn-status .conn-text")).to_have_text("")


def test_the_badge_counts_what_is_new_since_the_bell_was_opened_and_the_name_keeps_the_unread_count(
    browser, daphne_server, contexts
):
    context = login(browser, daphne_server, "mia")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    unread = int(page.locator("#unread-summary").get_attribute("data-count"))
    assert unread >= 1
    expect(page.locator("#bell-badge")).to_have_text(str(unread))  # never looked: all unread are new

    with page.expect_response(lambda r: r.url.endswith("/mark-seen/") and r.ok):
        bell(page).click()
    expect(page.locator("#bell-badge")).to_be_hidden()
    page.keyboard.press("Escape")
    page.reload()
    wait_live(page)
    expect(page.locator("#bell-badge")).to_be_hidden()  # seen on the server, not just in this tab
    expect(bell(page)).to_have_accessible_name(f"Notifications, {unread} unread")

    api_send(daphne_server, "mia", title="Mia new one")
    expect(page.locator("#bell-badge")).to_have_text("1", timeout=LIVE)
    expect(bell(page)).to_have_accessible_name(f"Notifications, {unread + 1} unread")
    page.reload()
    expect(page.locator("#bell-badge")).to_have_text("1")
