"""Token authentication from the per-process copy: no query per request, and every change that matters (token
revoked, user deactivated, permission or group changed) takes effect on the next request."""

from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from notifications.api.authentication import CachedTokenAuthentication
from notifications.process_cache import listener_wait
from tests.factories import make_user

from .conftest import client_for

COUNT = "/api/v1/notifications/unread-count/"
SEND = "/api/v1/notifications/send/"


def _queries(client, path):
    assert listener_wait()  # its start clears every copy once (production mode)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return [q["sql"] for q in ctx.captured_queries]


def _send(client, recipient):
    assert listener_wait()
    return client.post(SEND, {"recipients": [recipient.pk], "category": "comment", "title": "Hi"}, format="json")


def test_a_known_token_is_not_read_from_the_database_again(alice):
    # given alice's token, used once
    client = client_for(alice)
    first = _queries(client, COUNT)
    # when she calls again
    again = _queries(client, COUNT)
    # then only the first call read the token (and, with it, the user's send permissions) and the categories (the
    # process's copy, which names the counts' categories)
    auth = [sql for sql in first if "authtoken_token" in sql or "auth_permission" in sql]
    categories = [sql for sql in first if sql.startswith('SELECT "notifications_category"')]
    assert len(auth) == 2
    assert len(categories) == 1
    assert again == [sql for sql in first if sql not in auth and sql not in categories]


def test_the_send_permission_is_read_once_per_token(sender, alice):
    # given a producer that sent once
    client = client_for(sender)
    assert _send(client, alice).status_code == 201
    # when it sends again
    with CaptureQueriesContext(connection) as ctx:
        assert _send(client, alice).status_code == 201
    # then neither its token nor its permissions were read
    sqls = [q["sql"] for q in ctx.captured_queries]
    assert not any("authtoken_token" in sql or "auth_permission" in sql for sql in sqls)


def test_a_deleted_token_is_refused_on_the_next_request(alice):
    client = client_for(alice)
    assert client.get(COUNT).status_code == 200
    # when the token is revoked
    Token.objects.filter(user=alice).get().delete()
    # then
    response = client.get(COUNT)
    assert response.status_code == 401
    assert response.data["detail"] == "Invalid token."


def test_a_deactivated_user_is_refused_on_the_next_request(alice):
    client = client_for(alice)
    assert client.get(COUNT).status_code == 200
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = client.get(COUNT)
    assert response.status_code == 401
    assert response.data["detail"] == "User inactive or deleted."


def test_a_removed_send_permission_is_refused_on_the_next_send(sender, alice):
    client = client_for(sender)
    assert _send(client, alice).status_code == 201
    sender.user_permissions.remove(Permission.objects.get(codename="send_notification"))
    assert _send(client, alice).status_code == 403


def test_a_permission_through_a_group_counts_as_soon_as_it_is_given(alice, bob):
    # given bob, who may not send, and has sent nothing
    client = client_for(bob)
    assert _send(client, alice).status_code == 403
    # when he joins a group that may, then the group loses the permission
    group = Group.objects.create(name="producers")
    group.permissions.add(Permission.objects.get(codename="send_notification"))
    bob.groups.add(group)
    allowed = _send(client, alice).status_code
    group.permissions.clear()
    # then each change holds from the next request on
    assert allowed == 201
    assert _send(client, alice).status_code == 403


def test_a_change_that_bypasses_the_hooks_holds_after_the_ttl(settings, alice):
    # given a copy that expires at once (API_TOKEN_CACHE_SECONDS bounds a lost announcement)
    settings.API_TOKEN_CACHE_SECONDS = 0
    client = client_for(alice)
    assert client.get(COUNT).status_code == 200
    # when a raw update deactivates alice (no save hook runs)
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)
    # then the next request reads her again
    assert client.get(COUNT).status_code == 401


def test_each_request_gets_its_own_user(alice):
    # a view that annotates request.user must not change what the next request of the same token sees
    key = Token.objects.create(user=make_user("carol")).key
    first, _ = CachedTokenAuthentication().authenticate_credentials(key)
    first.first_name = "changed by a view"
    second, _ = CachedTokenAuthentication().authenticate_credentials(key)
    assert second.first_name == ""
    assert first is not second
