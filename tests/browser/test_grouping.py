"""Live grouping by group_key (issue 13) in real Chromium against the live server: one item per group whose count
and text change live, the bell counting it once, reading the group, and the same group after a reconnect."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.pages import LIVE, api_send, axe_serious, bell, titles, wait_live
from tests.browser.proxy import TcpProxy
from tests.browser.test_center import server_state

pytestmark = pytest.mark.browser

KEY = "post:42"


def _comment(i: int) -> str:
    return f"Comment {i} on Fix login"


def test_sends_with_one_group_key_are_one_live_item_counted_once_read_together_and_the_same_after_a_reconnect(
    browser, daphne_server, contexts
):
    """One story on one open center (live merge, badge, a reconnect's replay, reading the group): split, each part
    would repeat building the group it starts from."""
    proxy = TcpProxy(daphne_server.port)
    try:
        # given tess's center open through a proxy we can cut, socket live, nothing unread
        context = login(browser, daphne_server, "tess", base_url=f"http://127.0.0.1:{proxy.port}")
        contexts.append(context)
        page = context.new_page()
        page.goto("/notifications/")
        wait_live(page)
        expect(bell(page)).to_have_accessible_name("Notifications, 0 unread")
        items = page.locator("#notification-list .n-item")
        group = page.locator("#notification-list .n-item", has_text="on Fix login")

        # when three comments on one post arrive one after another
        for i in (1, 2, 3):
            api_send(daphne_server, "tess", title=_comment(i), body=f"Text {i}", group_key=KEY)
            # then the center shows one item with the latest content, whose count and text change in place
            expect(group.locator(".n-title")).to_have_text(_comment(i), timeout=LIVE)
            expect(items).to_have_count(1)
            if i > 1:
                expect(group.locator(".n-group")).to_have_text(f"bob · {i} notifications")
            expect(group.locator(".n-body")).to_have_text(f"Text {i}")
            # and the bell counts the group once: its name, the badge, the dropdown
            expect(bell(page)).to_have_accessible_name("Notifications, 1 unread")
            expect(page.locator("#bell-badge")).to_have_text("1")
            expect(page.locator("#bell-list > li")).to_have_count(1)
        expect(page.locator("#bell-list .dd-group")).to_have_text("bob · 3 notifications")

        # when one without a group_key comes, it is an item of its own, on top
        api_send(daphne_server, "tess", title="Solo")
        expect(items).to_have_count(2, timeout=LIVE)
        assert titles(page) == ["Solo", _comment(3)]
        expect(bell(page)).to_have_accessible_name("Notifications, 2 unread")
        expect(page.locator("#bell-badge")).to_have_text("2")

        # when a comment comes while the group's item has keyboard focus, its replacement has it
        group.focus()
        api_send(daphne_server, "tess", title=_comment(4), group_key=KEY)
        expect(group.locator(".n-title")).to_have_text(_comment(4), timeout=LIVE)
        expect(group).to_be_focused()
        expect(group.locator(".n-group")).to_have_text("bob · 4 notifications")

        # when the network drops, two more comments come meanwhile, and it comes back
        proxy.drop()
        expect(page.locator("#conn-status")).to_have_attribute("data-state", re.compile("reconnecting|polling"))
        for i in (5, 6):
            api_send(daphne_server, "tess", title=_comment(i), group_key=KEY)
        proxy.restore()
        wait_live(page)

        # then the replay merges them into the same group: one item, moved to the top, counted once
        expect(group.locator(".n-title")).to_have_text(_comment(6), timeout=LIVE)
        expect(group.locator(".n-group")).to_have_text("bob · 6 notifications")
        page.wait_for_function("window.notifyLive.state.cursor.pending.size === 0")
        assert titles(page) == [_comment(6), "Solo"]
        expect(bell(page)).to_have_accessible_name("Notifications, 2 unread")
        expect(page.locator("#bell-badge")).to_have_text("2")
        # and it is exactly the grouped view the server renders
        live = (titles(page), group.locator(".n-group").inner_text(), group.get_attribute("data-group-members"))
        page.reload()
        wait_live(page)
        assert (titles(page), group.locator(".n-group").inner_text(), group.get_attribute("data-group-members")) == live
        expect(bell(page)).to_have_accessible_name("Notifications, 2 unread")

        # when she marks the group read, every comment is read, the other one is not, and the bell follows
        group.get_by_role("button", name=f"Mark as read: {_comment(6)}").click()
        expect(bell(page)).to_have_accessible_name("Notifications, 1 unread", timeout=LIVE)
        state = server_state(daphne_server, context)
        assert [state[_comment(i)]["read_at"] is not None for i in range(1, 7)] == [True] * 6
        assert state["Solo"]["read_at"] is None
    finally:
        proxy.close()


def test_a_group_opened_by_keyboard_is_read_whole_and_the_grouped_center_passes_axe_at_360_px(
    browser, daphne_server, contexts, artifacts
):
    # given three comments of one group waiting for rosa, and her center at 360 px
    for i in (1, 2, 3):
        api_send(daphne_server, "rosa", title=_comment(i), group_key=KEY, url="/notifications/#top")
    context = login(browser, daphne_server, "rosa", viewport={"width": 360, "height": 740})
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)

    # then the server rendered one item with its summary, and nothing serious for axe, nothing wider than the screen
    assert titles(page) == [_comment(3)]
    item = page.locator("#notification-list .n-item")
    expect(item.locator(".n-group")).to_have_text("bob · 3 notifications")
    expect(page.get_by_role("article", name=f"{_comment(3)} bob · 3 notifications")).to_be_visible()
    expect(bell(page)).to_have_accessible_name("Notifications, 1 unread")
    assert axe_serious(page, "center-grouped-360", artifacts) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # when she opens it by keyboard (focus the item, o)
    item.focus()
    with page.expect_response(lambda r: r.url.endswith("/bulk/") and r.ok):
        page.keyboard.press("o")
    # then all three are read
    state = server_state(daphne_server, context)
    assert [state[_comment(i)]["read_at"] is not None for i in (1, 2, 3)] == [True, True, True]
