"""Producer update and retract (issue 13) in real Chromium against the live server: the open center and dropdown
change in place and then drop the notification; the service worker closes a shown web push it was told to."""

import re
import time
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import login
from tests.browser.pages import LIVE, api_send, bell, service_worker_push, titles, wait_live
from tests.browser.proxy import TcpProxy

pytestmark = pytest.mark.browser


def _as_producer(server: Any, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = requests.request(
        method, f"{server.url}{path}", json=body, headers={"Authorization": f"Token {server.token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_an_open_center_shows_the_update_in_place_then_drops_the_retracted_one(browser, daphne_server, contexts):
    # given rita's center open and live, with a notification from a producer (bob) shown live
    context = login(browser, daphne_server, "rita")
    contexts.append(context)
    page = context.new_page()
    page.goto("/notifications/")
    wait_live(page)
    sent = api_send(daphne_server, "rita", title="Rita draft", body="first version")
    item = page.locator("#notification-list .n-item", has_text="Rita draft")
    expect(item).to_have_count(1, timeout=LIVE)
    expect(bell(page)).to_have_accessible_name("Notifications, 1 unread", timeout=LIVE)
    bell(page).click()
    expect(page.locator("#bell-list .dd-item", has_text="Rita draft")).to_have_count(1)
    page.keyboard.press("Escape")

    # when bob updates it
    _as_producer(daphne_server, "patch", f"/api/v1/notifications/sends/{sent['id']}/", {"title": "Rita final"})

    # then the center and the dropdown show the new title where the old one was, still one item, still unread
    edited = page.locator("#notification-list .n-item", has_text="Rita final")
    expect(edited).to_have_count(1, timeout=LIVE)
    expect(edited).to_have_class(re.compile(r"\bis-unread\b"))
    assert titles(page) == ["Rita final"]
    expect(page.locator("#bell-list .dd-item", has_text="Rita final")).to_have_count(1)
    expect(page.locator("[data-id]", has_text="Rita draft")).to_have_count(0)
    expect(bell(page)).to_have_accessible_name("Notifications, 1 unread")

    # when bob retracts it
    _as_producer(daphne_server, "post", f"/api/v1/notifications/sends/{sent['id']}/retract/")

    # then it leaves the center and the dropdown at once and the badge drops; a reload does not bring it back
    expect(page.locator("[data-id]", has_text="Rita final")).to_have_count(0, timeout=LIVE)
    expect(bell(page)).to_have_accessible_name("Notifications, 0 unread", timeout=LIVE)
    page.reload()
    wait_live(page)
    assert titles(page) == []
    expect(bell(page)).to_have_accessible_name("Notifications, 0 unread")


def _shown(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(
        """async () => (await (await navigator.serviceWorker.ready).getNotifications()).map(n => ({
            title: n.title, tag: n.tag, id: n.data && n.data.id}))"""
    )


def test_the_service_worker_closes_a_shown_push_that_was_retracted(browser, daphne_server, contexts):
    # given sara's browser with the service worker and two web pushes shown (two tags)
    context = login(browser, daphne_server, "sara", permissions=["notifications"])
    contexts.append(context)
    page = context.new_page()
    page.goto("/preferences/")
    push = service_worker_push(context, page, daphne_server)

    def wait_for(predicate: Any) -> list[dict[str, Any]]:
        shown: list[dict[str, Any]] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            shown = _shown(page)
            if predicate(shown):
                break
            page.wait_for_timeout(100)
        return shown

    # (delivered again if the worker was still starting: the same tag replaces, never adds)
    for payload in (
        {"id": "n-1", "title": "Comment", "body": "b", "url": "/notifications/", "tag": "post:42"},
        {"id": "n-2", "title": "Kept", "body": "b", "url": "/notifications/", "tag": "n-2"},
    ):
        for _attempt in range(3):
            push(payload)
            if any(s["id"] == payload["id"] for s in wait_for(lambda s, p=payload: any(x["id"] == p["id"] for x in s))):
                break
    assert sorted(s["id"] for s in _shown(page)) == ["n-1", "n-2"]

    # when a retract push names another notification under the same tag (nothing to close), then one names n-2
    push({"type": "retract", "notifications": [{"id": "n-0", "tag": "post:42"}]})
    push({"type": "retract", "notifications": [{"id": "n-2", "tag": "n-2"}]})

    # then exactly n-2 is closed: the one shown under post:42 is another notification and stays
    shown = wait_for(lambda s: all(x["id"] != "n-2" for x in s))
    assert [(s["id"], s["title"], s["tag"]) for s in shown] == [("n-1", "Comment", "post:42")]

    # when the retract push for it arrives (delivery/webpush_retract.py's payload), it closes too, and the retract
    # messages themselves showed nothing
    push({"type": "retract", "notifications": [{"id": "n-1", "tag": "post:42"}]})
    assert wait_for(lambda s: not s) == []


def test_a_retraction_and_an_update_made_while_the_socket_was_cut_reach_the_center_on_reconnect(
    browser, daphne_server, contexts
):
    proxy = TcpProxy(daphne_server.port)
    try:
        # given uma's center open through a proxy we can cut, with two notifications from a producer shown live
        context = login(browser, daphne_server, "uma", base_url=f"http://127.0.0.1:{proxy.port}")
        contexts.append(context)
        page = context.new_page()
        page.goto("/notifications/")
        wait_live(page)
        doomed = api_send(daphne_server, "uma", title="Uma doomed")
        draft = api_send(daphne_server, "uma", title="Uma draft")
        expect(page.locator("#notification-list .n-item")).to_have_count(2, timeout=LIVE)
        expect(bell(page)).to_have_accessible_name("Notifications, 2 unread", timeout=LIVE)

        # when the network drops, the producer retracts one and updates the other meanwhile, and it comes back
        proxy.drop()
        expect(page.locator("#conn-status")).to_have_attribute("data-state", re.compile("reconnecting|polling"))
        _as_producer(daphne_server, "post", f"/api/v1/notifications/sends/{doomed['id']}/retract/")
        _as_producer(daphne_server, "patch", f"/api/v1/notifications/sends/{draft['id']}/", {"title": "Uma final"})
        # nothing told the tab yet: both still shown in the center and the dropdown
        expect(page.locator("#notification-list .n-item", has_text="Uma doomed")).to_have_count(1)
        expect(page.locator("#bell-list .dd-item", has_text="Uma doomed")).to_have_count(1)
        proxy.restore()
        wait_live(page)

        # then the resume's catch-up drops the retracted one and shows the new title in place, and the badge follows
        expect(page.locator("[data-id]", has_text="Uma doomed")).to_have_count(0, timeout=LIVE)
        expect(page.locator("#notification-list .n-item", has_text="Uma final")).to_have_count(1, timeout=LIVE)
        expect(page.locator("[data-id]", has_text="Uma draft")).to_have_count(0)
        assert titles(page) == ["Uma final"]
        expect(page.locator("#bell-list .dd-item", has_text="Uma final")).to_have_count(1)
        expect(bell(page)).to_have_accessible_name("Notifications, 1 unread", timeout=LIVE)
    finally:
        proxy.close()
