"""Budgets on the endpoints an attacker or a runaway client would hammer: sign-in, WebSocket tickets, exports."""

import uuid

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def _address() -> str:
    """A client address of this test's own (budgets are shared by every test of a run)."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def test_sign_in_attempts_per_username_get_429_with_retry_after(settings):
    settings.LOGIN_RATE_USERNAME = "3/m"
    user = make_user(f"guess{uuid.uuid4().hex[:8]}")
    for _ in range(3):
        response = Client(REMOTE_ADDR=_address()).post(
            "/accounts/login/", {"username": user.username, "password": "wrong"}
        )
        assert response.status_code == 200  # the form again, with its error
    blocked = Client(REMOTE_ADDR=_address()).post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) >= 1
    assert b"Too many sign-in attempts" in blocked.content
    assert "_auth_user_id" not in blocked.wsgi_request.session  # even the right password does not sign in


def test_sign_in_attempts_per_address_get_429_and_other_addresses_are_served(settings):
    settings.LOGIN_RATE_ADDRESS = "2/m"
    address = _address()
    user = make_user(f"addr{uuid.uuid4().hex[:8]}")
    for _ in range(2):
        Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": f"x{uuid.uuid4().hex}", "password": "x"})
    assert Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": "y", "password": "y"}).status_code == 429
    other = Client(REMOTE_ADDR=_address())
    response = other.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302


def test_the_admin_signs_in_through_the_same_login_page():
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/"


@pytest.mark.parametrize(
    "setting, method, path",
    [("WS_TICKET_RATE", "post", "/api/v1/ws-tickets/"), ("EXPORT_RATE", "get", "/api/v1/me/export/")],
)
def test_ws_tickets_and_exports_per_user_get_429_and_other_users_are_served(settings, setting, method, path):
    setattr(settings, setting, "2/m")
    alice, bob = make_user(f"a{uuid.uuid4().hex[:8]}"), make_user(f"b{uuid.uuid4().hex[:8]}")
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    statuses = [getattr(client, method)(path).status_code for _ in range(3)]
    assert statuses[:2] == [201, 201] if method == "post" else statuses[:2] == [200, 200]
    assert statuses[2] == 429
    other = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bob).key}")
    assert getattr(other, method)(path).status_code in (200, 201)
