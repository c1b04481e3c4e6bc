"""The notification center in real Chromium against a live daphne server (issue 6): live updates over the
WebSocket (and the polling fallback), then the center without live updates and without JavaScript.

Each test uses its own user from tests/browser/dataset.py, so tests sharing the session's server never see each
other's notifications.
"""

import json
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.dataset import carol_items
from tests.browser.pages import LIVE, api_send, bell, self_send, titles, wait_live
from tests.browser.proxy import TcpProxy

pytestmark = pytest.mark.browser


# --- Live ---------------------------------------------------------------------------------------------------


def test_notification_sent_through_the_api_appears_live_with_badge_title_and_toast(
    browser, daphne_server, contexts, artifacts
):
    # given alice with the center open and the socket live; she has no unread notification
    context = login(browser, daphne_server, "alice")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    expect(bell(page)).to_have_accessible_name("Notifications, 0 unread")
    assert not page.title().startswith("(")

    # when a producer sends her a notification through the API
    started = time.monotonic()
    sent = api_send(daphne_server, "alice", title="Bob replied to your post", body="<b>not bold</b>")
    item = page.locator(f"#n-{sent['notification_ids'][0]}")
    expect(item).to_be_visible(timeout=LIVE)
    elapsed = time.monotonic() - started
    (artifacts / "live-latency.json").write_text(json.dumps({"api_send_to_visible_s": round(elapsed, 3)}))

    # then it is in the list (escaped), the badge and the title count went up, and a polite toast announced it
    expect(item.locator(".n-title")).to_have_text("Bob replied to your post")
    expect(item.locator(".n-body")).to_have_text("<b>not bold</b>")
    expect(bell(page)).to_have_accessible_name("Notifications, 1 unread")
    expect(page.locator("#bell-badge")).to_have_text("1")
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    expect(page.locator("#toasts[aria-live='polite'] .toast")).to_contain_text("Bob replied to your post")
    expect(page.locator("#toasts-urgent .toast")).to_have_count(0)
    expect(page.locator("#bell-list .dd-item").first).to_contain_text("Bob replied to your post")

    # and an urgent one is announced assertively, without reload
    api_send(daphne_server, "alice", title="Security: new sign-in", category="security", priority="urgent")
    expect(page.locator("#toasts-urgent[aria-live='assertive'] .toast")).to_contain_text("Security: new sign-in")
    expect(bell(page)).to_have_accessible_name("Notifications, 2 unread")
    assert titles(page)[:2] == ["Security: new sign-in", "Bob replied to your post"]


def test_polling_fallback_without_websockets(browser, daphne_server, contexts):
    # given a browser where WebSocket does not exist, polling the REST API quickly
    context = login(browser, daphne_server, "ivan")
    contexts.append(context)
    context.add_init_script("delete window.WebSocket; window.NOTIFY_POLL_MS = 300;")
    page = context.new_page()
    page.goto("/notifications/")
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "polling")
    expect(bell(page)).to_have_accessible_name("Notifications, 2 unread")

    # when a notification is sent through the API
    sent = api_send(daphne_server, "ivan", title="Polled in")

    # then it appears once, and the count follows
    expect(page.locator(f"#n-{sent['notification_ids'][0]}")).to_be_visible(timeout=LIVE)
    expect(bell(page)).to_have_accessible_name("Notifications, 3 unread")
    page.wait_for_timeout(700)  # two more polls must not duplicate it
    assert titles(page).count("Polled in") == 1


def test_two_tabs_stay_in_sync(browser, daphne_server, contexts):
    # given erin's center open in two tabs, both live, with two unread notifications
    context = login(browser, daphne_server, "erin")
    contexts.append(context)
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.goto("/notifications/")
        wait_live(page)
        expect(bell(page)).to_have_accessible_name("Notifications, 2 unread")
    target = first.locator("#notification-list .n-item", has_text="Erin first")
    target_id = target.get_attribute("data-id")

    # when the first tab marks one read
    target.get_by_role("button", name="Mark as read").click()

    # then the second tab shows it read and the count dropped, without reload
    mirrored = second.locator(f"#n-{target_id}")
    expect(mirrored).not_to_have_class(re.compile(r"\bis-unread\b"))
    expect(mirrored.get_by_role("button", name=re.compile("^Mark as unread"))).to_be_visible()
    expect(bell(second)).to_have_accessible_name("Notifications, 1 unread")
    expect(second.locator("#n-" + target_id)).to_have_count(1)

    # when the second tab marks all read from the dropdown
    bell(second).click()
    second.locator("#bell-panel").get_by_role("button", name="Mark all as read").click()

    # then the badge is cleared everywhere
    for page in (first, second):
        expect(bell(page)).to_have_accessible_name("Notifications, 0 unread")
        expect(page.locator("#bell-badge")).to_be_hidden()
        expect(page.locator("#notification-list .n-item.is-unread")).to_have_count(0)
        expect(page).not_to_have_title(re.compile(r"^\("))


def test_dropped_connection_resumes_and_shows_each_missed_notification_once(browser, daphne_server, contexts):
    # given frank's center open through a proxy we can cut, socket live
    proxy = TcpProxy(daphne_server.port)
    try:
        context = login(browser, daphne_server, "frank", base_url=f"http://127.0.0.1:{proxy.port}")
        contexts.append(context)
        page = context.new_page()
        page.goto("/notifications/")
        wait_live(page)

        # when the network drops, three notifications are sent meanwhile, and the network comes back
        proxy.drop()
        expect(page.locator("#conn-status")).to_have_attribute("data-state", re.compile("reconnecting|polling"))
        missed = ["Missed one", "Missed two", "Missed three"]
        for title in missed:
            self_send(daphne_server, context.cookies(), title)
        assert titles(page) == []
        proxy.restore()

        # then the page resumes from its last seq: all three, newest first, each exactly once
        wait_live(page)
        expect(page.locator("#notification-list .n-item")).to_have_count(3, timeout=LIVE)
        page.wait_for_function("window.notifyLive.state.cursor.pending.size === 0")
        assert titles(page) == list(reversed(missed))
        expect(bell(page)).to_have_accessible_name("Notifications, 3 unread")
        cursor = page.evaluate("window.notifyLive.state.cursor.seq")
        assert cursor == page.evaluate(
            f"Number(localStorage.getItem('notify:{daphne_server.users['frank']}:last-seq'))"
        )
        assert cursor == 3
    finally:
        proxy.close()


# --- Center without live updates ---------------------------------------------------------------------------


def test_filters_and_load_more_show_exactly_the_expected_items(browser, daphne_server, contexts):
    items = carol_items()
    newest_first = list(reversed(items))
    inbox = [i.title for i in newest_first if not i.archived]
    context = login(browser, daphne_server, "carol")
    contexts.append(context)
    page = context.new_page()

    # the default view: the first 20 of the inbox, then "load more" brings exactly the rest
    page.goto("/notifications/")
    assert titles(page) == inbox[:20]
    page.get_by_role("link", name="Load more").click()
    expect(page.locator("#notification-list .n-item")).to_have_count(len(inbox))
    assert titles(page) == inbox
    expect(page.get_by_role("link", name="Load more")).to_have_count(0)

    # category filter (through the form, like a person): it applies as soon as it changes, no submit button
    filters = page.get_by_role("form", name="Filter notifications")
    expect(filters.get_by_role("button", name="Apply filters")).to_be_hidden()
    filters.get_by_role("checkbox", name=re.compile("^Mention")).check()
    page.wait_for_url(re.compile(r"category=mention"))
    assert titles(page) == [i.title for i in newest_first if i.category == "mention" and not i.archived]

    # unread + urgent
    page.goto("/notifications/?status=unread&priority=urgent")
    assert titles(page) == [i.title for i in newest_first if i.priority == "urgent" and not i.read and not i.archived]

    # last month's notifications by date
    page.goto("/notifications/")
    filters.get_by_label("From").fill(page.evaluate("new Date(Date.now() - 45*864e5).toISOString().slice(0,10)"))
    page.wait_for_url(re.compile(r"since="))
    filters.get_by_label("To", exact=True).fill(
        page.evaluate("new Date(Date.now() - 30*864e5).toISOString().slice(0,10)")
    )
    page.wait_for_url(re.compile(r"since=.*until="))
    last_month = [i.title for i in newest_first if 30 < i.days_ago <= 45]
    assert len(last_month) == 5
    expect(page.locator("#notification-list .n-title")).to_have_text(last_month)

    # archived
    page.goto("/notifications/?status=archived")
    assert titles(page) == ["Carol item 27"]

    # a filter with no match shows the empty state
    page.goto("/notifications/?category=security")
    assert titles(page) == []
    expect(page.get_by_text("No notifications match these filters.")).to_be_visible()


def test_archive_hides_an_item_from_the_default_view(browser, daphne_server, contexts):
    context = login(browser, daphne_server, "hank")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    assert titles(page) == ["Hank also keep", "Hank archive me", "Hank keep"]

    item = page.locator("#notification-list .n-item", has_text="Hank archive me")
    item.get_by_role("button", name=re.compile("^Archive")).click()

    expect(page.locator("#notification-list .n-item")).to_have_count(2)
    page.reload()
    assert titles(page) == ["Hank also keep", "Hank keep"]
    expect(bell(page)).to_have_accessible_name("Notifications, 2 unread")
    page.goto("/notifications/?status=archived")
    assert titles(page) == ["Hank archive me"]


def test_center_works_without_javascript(browser, daphne_server, contexts):
    # given JavaScript off
    context = login(browser, daphne_server, "carol", java_script_enabled=False)
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/?category=comment")
    expected = [i.title for i in reversed(carol_items()) if i.category == "comment" and not i.archived]
    assert titles(page) == expected
    unread_before = int(page.locator("#unread-summary").get_attribute("data-count"))

    # when a form posts "mark as read" on the first unread item
    item = page.locator("#notification-list .n-item.is-unread").first
    title = item.locator(".n-title").inner_text()
    item.get_by_role("button", name=re.compile("^Mark as read")).click()

    # then the page reloads on the same filter with that item read and the count one lower
    page.wait_for_url(re.compile(r"category=comment"))
    assert titles(page) == expected
    item = page.locator("#notification-list .n-item", has_text=title)
    expect(item).not_to_have_class(re.compile(r"\bis-unread\b"))
    assert int(page.locator("#unread-summary").get_attribute("data-count")) == unread_before - 1
    expect(bell(page)).to_have_accessible_name(f"Notifications, {unread_before - 1} unread")

    # and it goes back to unread, so other tests see carol's data unchanged
    item.get_by_role("button", name=re.compile("^Mark as unread")).click()
    assert int(page.locator("#unread-summary").get_attribute("data-count")) == unread_before
