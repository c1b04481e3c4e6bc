import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import make_user


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def broadcaster(db):
    return make_user("broadcaster", perms=["send_notification", "broadcast_notification"])


@pytest.fixture
def sender_client(sender) -> APIClient:
    return client_for(sender)


@pytest.fixture
def alice_client(alice) -> APIClient:
    return client_for(alice)


@pytest.fixture
def bob_client(bob) -> APIClient:
    return client_for(bob)


@pytest.fixture(autouse=True)
def _no_send_limit(settings):
    settings.NOTIFICATIONS_SEND_RATE = "off"
