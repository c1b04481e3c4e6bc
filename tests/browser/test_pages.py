"""The notification center and preferences in real Chromium against a live daphne server (issue 6).

Each test uses its own user from tests/browser/dataset.py, so tests sharing the session's server never see each
other's notifications. Live behaviour needs the WebSocket consumer; sending "through the API" needs the REST API.
"""

import json
import re
import time
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, login
from tests.browser.dataset import carol_items
from tests.browser.proxy import TcpProxy

pytestmark = pytest.mark.browser

LIVE = 10_000  # ms Playwright waits for something to appear; a budget against hangs, not a latency assertion
SERIOUS = ("serious", "critical")


def api_send(server: LiveServer, username: str, **fields: Any) -> dict[str, Any]:
    """POST /api/v1/notifications/send/ as bob (a producer with a token), like any other app would."""
    body = {"recipients": [server.users[username]], "category": "comment", **fields}
    response = requests.post(
        f"{server.url}/api/v1/notifications/send/",
        json=body,
        headers={"Authorization": f"Token {server.token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def self_send(server: LiveServer, cookies: list[dict[str, Any]], title: str, **fields: str) -> None:
    """The page's "send me a test notification" form, posted straight to daphne (not through any proxy)."""
    session = requests.Session()
    for c in cookies:
        session.cookies.set(c["name"], c["value"], domain=c["domain"], path=c["path"])
    response = session.post(
        f"{server.url}/notifications/test/",
        data={"category": "comment", "priority": "normal", "title": title, **fields},
        headers={"X-CSRFToken": session.cookies.get("csrftoken") or "", "Accept": "application/json"},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def wait_live(page: Any) -> None:
    """The socket said hello (the connection status is "live")."""
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "live", timeout=LIVE)


def titles(page: Any) -> list[str]:
    return page.locator("#notification-list .n-title").all_inner_texts()


def bell(page: Any) -> Any:
    return page.get_by_role("button", name=re.compile(r"^Notifications"))


def axe_serious(page: Any, name: str, artifacts: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
    (artifacts / f"axe-{name}.json").write_text(json.dumps(results.response["violations"], indent=1))
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in violations]


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
    cdp = context.new_cdp_session(page)
    registrations: dict[str, str] = {}
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.update({r["scopeURL"]: r["registrationId"] for r in event["registrations"]}),
    )
    cdp.send("ServiceWorker.enable")

    # when she enables browser notifications (registers /sw.js) and a push message arrives for it
    page.get_by_role("button", name="Enable browser notifications").click()
    page.wait_for_function("navigator.serviceWorker.getRegistration('/').then(r => Boolean(r && r.active))")
    scope = f"{daphne_server.url}/"
    deadline = time.monotonic() + 10
    while scope not in registrations and time.monotonic() < deadline:
        page.wait_for_timeout(100)
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
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": daphne_server.url, "registrationId": registrations[scope], "data": json.dumps(payload)},
        )
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
