"""What the browser tests share: sending to a user (API or the page's own form), waiting for the live socket, reading
the list and the bell, and axe's serious findings."""

import json
import re
import time
from collections.abc import Callable
from typing import Any

import requests
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer

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


def service_worker_push(context: Any, page: Any, server: LiveServer) -> Callable[[dict[str, Any]], None]:
    """Enable browser notifications on the open preferences page (registers /sw.js) and return a function that
    delivers a push message to that service worker through the DevTools protocol, as a push service would."""
    cdp = context.new_cdp_session(page)
    registrations: dict[str, str] = {}
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.update({r["scopeURL"]: r["registrationId"] for r in event["registrations"]}),
    )
    cdp.send("ServiceWorker.enable")
    page.get_by_role("button", name="Enable browser notifications").click()
    page.wait_for_function("navigator.serviceWorker.getRegistration('/').then(r => Boolean(r && r.active))")
    scope = f"{server.url}/"
    deadline = time.monotonic() + 10
    while scope not in registrations and time.monotonic() < deadline:
        page.wait_for_timeout(100)

    def push(payload: dict[str, Any]) -> None:
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": server.url, "registrationId": registrations[scope], "data": json.dumps(payload)},
        )

    return push
