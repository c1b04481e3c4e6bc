"""Saved and Snooze in the center (issue 13), in real Chromium against the live server."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.pages import LIVE, api_send, axe_serious, bell, titles, wait_live
from tests.browser.test_center import server_state

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


def test_snooze_menu_hides_an_item_everywhere_and_it_comes_back_live_with_a_toast(browser, daphne_server, contexts):
    """One story in one browser session (menu by keyboard, a refused time, snooze, the other tab, the wake, the
    toast): split, each part would repeat the setup of two live tabs and a snoozed item."""
    # given omar's center open in two tabs, both live, with two unread notifications
    context = login(browser, daphne_server, "omar")
    contexts.append(context)
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.goto("/notifications/")
        wait_live(page)
        expect(bell(page)).to_have_accessible_name("Notifications, 2 unread")
    item = first.locator("#notification-list .n-item", has_text="Omar later")
    item_id = item.get_attribute("data-id")

    # when he opens the item's snooze menu by keyboard (z) and the presets show, with their times
    item.focus()
    first.keyboard.press("z")
    menu = item.locator("form.n-snooze-menu")
    expect(menu).to_be_visible()
    for name in ("1 hour", "3 hours", "Tomorrow morning", "Next week", "Snooze until then"):
        expect(menu.get_by_role("button", name=re.compile(f"^{name}"))).to_be_visible()
    expect(menu.get_by_role("button", name=re.compile("^1 hour"))).to_be_focused()
    # Escape closes it and focus goes back to its toggle
    first.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(item.locator(".n-snooze > summary")).to_be_focused()

    # a chosen time that is not a time is refused in place
    item.locator(".n-snooze > summary").click()
    menu.get_by_role("button", name="Snooze until then").click()
    expect(menu.get_by_role("alert")).to_contain_text("Choose a date and time")

    # when he snoozes it for an hour
    menu.get_by_role("button", name=re.compile("^1 hour")).click()

    # then it leaves the inbox and the badge at once in both tabs, with an Undo toast here; focus stays visible
    for page in (first, second):
        expect(page.locator(f"#n-{item_id}")).to_have_count(0, timeout=LIVE)
        expect(bell(page)).to_have_accessible_name("Notifications, 1 unread", timeout=LIVE)
    expect(first.locator("#toasts .toast", has_text="Snoozed until")).to_be_visible()
    assert first.evaluate("document.activeElement !== document.body")
    state = server_state(daphne_server, context)["Omar later"]
    assert state["snoozed_until"] is not None

    # and it waits in the Snoozed view of the other tab, saying until when
    second.get_by_role("link", name="Snoozed").click()
    second.wait_for_url(re.compile(r"status=snoozed"))
    wait_live(second)
    assert titles(second) == ["Omar later"]
    expect(second.locator(".chip-snoozed")).to_contain_text("Snoozed until")

    # when it comes back (unsnoozed now from that tab: the same wake as at its time, with a new seq)
    waiting = second.locator("#notification-list .n-item", has_text="Omar later")
    waiting.locator(".n-snooze > summary").click()
    waiting.get_by_role("button", name="Unsnooze now").click()

    # then the inbox tab shows it live at the top, unread, with a toast, and the badge counts it again
    expect(first.locator(f"#n-{item_id}")).to_have_count(1, timeout=LIVE)
    assert titles(first)[0] == "Omar later"
    expect(first.locator(f"#n-{item_id}")).to_have_class(re.compile(r"\bis-unread\b"))
    expect(first.locator("#toasts .toast", has_text="Back from snooze")).to_contain_text("Omar later", timeout=LIVE)
    expect(bell(first)).to_have_accessible_name("Notifications, 2 unread", timeout=LIVE)
    expect(second.locator("#notification-list .n-item")).to_have_count(0, timeout=LIVE)
    expect(second.locator("#center-empty")).to_contain_text("Nothing snoozed.")
    woken = server_state(daphne_server, context)["Omar later"]
    assert woken["snoozed_until"] is None and woken["seq"] > state["seq"]

    # and a live-added item has the same menu: a chosen time snoozes it
    fresh = first.locator(f"#n-{item_id}")
    fresh.locator(".n-snooze > summary").click()
    later = first.evaluate(
        "() => { const d = new Date(Date.now() + 2 * 86400000); d.setSeconds(0, 0);"
        " return new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16); }"
    )
    fresh.get_by_label("Choose a time").fill(later)
    fresh.get_by_role("button", name="Snooze until then").click()
    expect(first.locator(f"#n-{item_id}")).to_have_count(0, timeout=LIVE)
    expect(bell(first)).to_have_accessible_name("Notifications, 1 unread", timeout=LIVE)


def test_why_opens_in_the_item_by_keyboard_and_is_accessible(browser, daphne_server, contexts, artifacts):
    # given pia's center
    context = login(browser, daphne_server, "pia")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    summary = page.locator("#notification-list .n-item", has_text="Pia why").locator(".n-why > summary")
    expect(summary).to_have_accessible_name("Why did I get this: Pia why")

    # when she opens "Why?" with the keyboard
    summary.focus()
    page.keyboard.press("Enter")

    # then the explanation loads inside the item, in words, with a way to change the category's settings
    body = page.locator("#notification-list .n-item", has_text="Pia why").locator(".n-why-body")
    expect(body).to_contain_text("Comments notifications reach you here", timeout=LIVE)
    expect(body).to_contain_text("In-app: on (the category's default)")
    expect(body.get_by_role("link", name="Change what you get for Comments")).to_have_attribute(
        "href", "/preferences/#category-comment"
    )
    assert axe_serious(page, "center-why-open", artifacts) == []


def test_mute_from_why_then_the_groups_new_one_arrives_without_toast_or_badge(browser, daphne_server, contexts):
    # given quinn's center, live, with one unread notification of group post:9
    context = login(browser, daphne_server, "quinn")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    expect(bell(page)).to_have_accessible_name("Notifications, 1 unread")
    item = page.locator("#notification-list .n-item", has_text="Quinn thread")

    # when she opens "Why?" and mutes the group forever (the form posts in place)
    item.locator(".n-why > summary").click()
    body = item.locator(".n-why-body")
    body.get_by_role("button", name="Mute this group forever").click()
    expect(body).to_contain_text("This group is muted forever.", timeout=LIVE)

    # and a new notification of that group arrives, then one of no group
    api_send(daphne_server, "quinn", title="Quinn muted", group_key="post:9")
    api_send(daphne_server, "quinn", title="Quinn loud")

    # then both are in the list; only the second toasts and counts (frames arrive in order: once the second's
    # toast shows, the first was handled, without one)
    expect(page.locator("#toasts .toast", has_text="Quinn loud")).to_be_visible(timeout=LIVE)
    expect(page.locator("#toasts .toast", has_text="Quinn muted")).to_have_count(0)
    assert titles(page)[:2] == ["Quinn loud", "Quinn muted"]
    expect(bell(page)).to_have_accessible_name("Notifications, 2 unread")

    # and the preferences page lists the mute; Unmute removes it
    page.goto("/preferences/")
    mutes = page.locator("#mute-list")
    expect(mutes).to_contain_text("post:9")
    mutes.get_by_role("button", name="Unmute post:9").click()
    expect(page.locator("#mute-empty")).to_be_visible(timeout=LIVE)
