"""Per-process copies (API tokens, categories) against a real web process: a change made in another process (here,
the test's) reaches the server through the Redis announcement, long before the copy's TTL (set to 5 minutes).
Skipped on a laptop without services; failing in CI (REQUIRE_SERVICES=1) when one is missing."""

import time
from typing import Any

import pytest
import requests
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token

from notifications.models import Category, Content
from tests.conftest import live_daphne
from tests.factories import make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SEND = "/api/v1/notifications/send/"


@pytest.fixture
def web():
    server = live_daphne(API_TOKEN_CACHE_SECONDS="300", CATEGORY_CACHE_SECONDS="300")
    yield server
    server.stop()


def _send(web, key: str, recipient_id: int, category: str = "comment") -> requests.Response:
    body: dict[str, Any] = {"recipients": [recipient_id], "category": category, "title": "Hi"}
    return requests.post(f"{web.base}{SEND}", json=body, headers={"Authorization": f"Token {key}"}, timeout=10)


def _warm(call) -> None:
    """Calls until the server has its copy: the first call also starts its change listener, whose start clears it."""
    for _ in range(3):
        assert call().status_code == 201
        time.sleep(0.2)


def _status_becomes(expected: int, call, seconds: float = 10.0) -> list[int]:
    """Statuses seen until `expected` comes (the announcement travels asynchronously), at most `seconds`."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(call().status_code)
        if seen[-1] == expected:
            break
        time.sleep(0.05)
    return seen


def test_a_token_revoked_in_another_process_is_refused_by_the_server(web):
    # given a producer whose token the server has cached
    producer = make_user("producer", perms=["send_notification"])
    alice = make_user("alice")
    key = Token.objects.create(user=producer).key
    _warm(lambda: _send(web, key, alice.pk))
    # when the token is deleted here (admin, shell: another process)
    Token.objects.filter(key=key).delete()
    # then the server refuses it within moments, not after its 5-minute TTL
    assert _status_becomes(401, lambda: _send(web, key, alice.pk))[-1] == 401


def test_a_send_permission_removed_in_another_process_is_refused_by_the_server(web):
    producer = make_user("producer", perms=["send_notification"])
    alice = make_user("alice")
    key = Token.objects.create(user=producer).key
    _warm(lambda: _send(web, key, alice.pk))
    producer.user_permissions.remove(Permission.objects.get(codename="send_notification"))
    assert _status_becomes(403, lambda: _send(web, key, alice.pk))[-1] == 403


def test_a_category_edited_in_another_process_is_used_by_the_server(web):
    # given a category the server has used (so it is in its copy), normal by default
    Category.objects.create(slug="launch", label="Launches", default_priority="normal")
    producer = make_user("producer", perms=["send_notification"])
    alice = make_user("alice")
    key = Token.objects.create(user=producer).key
    _warm(lambda: _send(web, key, alice.pk, "launch"))
    # when staff make it high priority by default
    category = Category.objects.get(slug="launch")
    category.default_priority = "high"
    category.save()

    # then the server's next sends without a priority are high, within moments
    def priority_of_a_new_send() -> str:
        response = _send(web, key, alice.pk, "launch")
        assert response.status_code == 201, response.text
        return Content.objects.get(uuid=response.json()["id"]).priority

    deadline = time.monotonic() + 10
    while priority_of_a_new_send() != "high" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert priority_of_a_new_send() == "high"
