import pytest
from django.contrib.auth.models import Group

from notifications.models import Content, Notification

SEND = "/api/v1/notifications/send/"
BULK = "/api/v1/notifications/send-bulk/"


def body(**overrides):
    values = {"category": "comment", "title": "Bob replied"}
    values.update(overrides)
    return values


def test_send_to_ids_creates_one_row_per_recipient(sender_client, alice, bob):
    # when
    response = sender_client.post(SEND, body(recipients=[alice.pk, bob.pk], body="b", data={"k": 1}), format="json")
    # then
    assert response.status_code == 201, response.content
    rows = Notification.objects.filter(content__uuid=response.data["id"])
    assert response.data["recipient_count"] == 2
    assert sorted(response.data["notification_ids"]) == sorted(str(u) for u in rows.values_list("uuid", flat=True))
    assert sorted(rows.values_list("recipient_id", flat=True)) == sorted([alice.pk, bob.pk])
    content = Content.objects.get()
    assert (content.title, content.body, content.data, content.producer) == (
        "Bob replied",
        "b",
        {"k": 1},
        f"user:{content.actor_id}",
    )


def test_a_relative_image_url_is_accepted_like_a_relative_url(sender_client, alice):
    # when a producer sends an image on this site by its path, as it may for `url`
    payload = body(recipients=[alice.pk], url="/posts/42", image_url="/media/a.png")
    response = sender_client.post(SEND, payload, format="json")
    # then it is accepted and stored as sent, for alice's clients to show
    assert response.status_code == 201, response.content
    content = Content.objects.get(uuid=response.data["id"])
    assert (content.image_url, content.url) == ("/media/a.png", "/posts/42")
    assert Notification.objects.filter(content=content, recipient=alice).count() == 1


def test_send_by_usernames(sender_client, alice):
    response = sender_client.post(SEND, body(recipient_usernames=["alice"]), format="json")
    assert response.status_code == 201
    assert Notification.objects.get().recipient_id == alice.pk


def test_ids_are_omitted_above_1000_recipients(sender_client, django_user_model):
    from tests.factories import make_users

    users = make_users(1001, "many")
    response = sender_client.post(SEND, body(recipients=[u.pk for u in users]), format="json")
    assert response.status_code == 201
    assert response.data["recipient_count"] == 1001
    assert "notification_ids" not in response.data


ALICE = "<alice>"  # replaced by alice's id


def to(**overrides):
    """A send to alice with some fields overridden."""
    return body(recipients=[ALICE], **overrides)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(recipients=[]), "recipients"),
        (body(), "recipients"),
        (body(recipients=[ALICE], recipient_usernames=["alice"]), "recipients"),
        (body(recipients=["x"]), "recipients"),
        (body(recipients=[10**30]), "recipients"),
        (body(recipients=[999999]), "recipients"),
        (body(recipient_usernames=["nobody"]), "recipient_usernames"),
        (to(category="nope"), "category"),
        (to(priority="critical"), "priority"),
        ({"category": "comment", "recipients": [ALICE]}, "title"),
        (to(title=""), "title"),
        (to(title="x" * 201), "title"),
        (to(title="a\x00b"), "title"),
        (to(body="x" * 2001), "body"),
        (to(url="javascript:alert(1)"), "url"),
        (to(url="//evil.example.com/"), "url"),
        (to(url="/\t/evil.example"), "url"),
        (to(url="/\n/evil.example"), "url"),
        (to(url="/\u200b/evil.example"), "url"),
        (to(url="/ok path"), "url"),
        (to(image_url="https://cdn.example/\r\n/x.png"), "image_url"),
        (to(actions=[{"label": "a", "url": "/\t/evil.example"}]), "actions"),
        (to(image_url="//evil.example.com/a.png"), "image_url"),
        (to(image_url="javascript:alert(1)"), "image_url"),
        (to(image_url="/\t/evil.example/a.png"), "image_url"),
        (to(actions=[{"label": "a", "url": "/a"}] * 4), "actions"),
        (to(actions=[{"label": "a", "url": "javascript:x"}]), "actions"),
        (to(actions=[{"label": "a", "url": "/a", "style": "huge"}]), "actions"),
        (to(data={"x": "y" * 5000}), "data"),
        (to(data=["not", "an", "object"]), "data"),
        (to(data={"a": "\u0000"}), "data"),
        (to(group_key="g" * 201), "group_key"),
        (to(expires_at="not a date"), "expires_at"),
        (body(audience="everyone"), "audience"),
    ],
)
def test_every_bad_send_is_a_400_naming_the_field_and_writes_nothing(sender_client, alice, payload, field):
    if "recipients" in payload:
        payload = {**payload, "recipients": [alice.pk if r == ALICE else r for r in payload["recipients"]]}
    response = sender_client.post(SEND, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert Content.objects.count() == 0
    assert Notification.objects.count() == 0


def test_malformed_json_is_a_400(sender_client):
    for raw in (b'{"title": "\\ud800"}', b"[" * 5000, b"{nope", b"", b'{"a": NaN}'):
        response = sender_client.generic("POST", SEND, raw, content_type="application/json")
        assert response.status_code == 400, raw[:20]
    assert Content.objects.count() == 0


def test_inactive_recipient_is_rejected(sender_client, alice):
    alice.is_active = False
    alice.save()
    response = sender_client.post(SEND, body(recipients=[alice.pk]), format="json")
    assert response.status_code == 400
    assert str(alice.pk) in response.json()["recipients"][0]
    assert Notification.objects.count() == 0


def test_bulk_sends_all(sender_client, alice, bob):
    items = [body(recipients=[alice.pk], title=f"t{i}") for i in range(3)] + [body(recipient_usernames=["bob"])]
    response = sender_client.post(BULK, {"notifications": items}, format="json")
    assert response.status_code == 201, response.content
    assert len(response.data["ids"]) == 4
    assert list(
        Notification.objects.filter(recipient=alice).order_by("seq").values_list("content__title", flat=True)
    ) == ["t0", "t1", "t2"]
    assert Notification.objects.filter(recipient=bob).count() == 1


def test_bulk_is_all_or_nothing_and_names_the_item(sender_client, alice):
    items = [
        body(recipients=[alice.pk]),
        body(recipients=[alice.pk], url="javascript:x"),
        body(recipient_usernames=["ghost"]),
    ]
    response = sender_client.post(BULK, {"notifications": items}, format="json")
    assert response.status_code == 400
    errors = response.json()["notifications"]
    assert errors[0] == {}
    assert list(errors[1]) == ["url"]
    assert list(errors[2]) == ["recipient_usernames"]
    assert Content.objects.count() == 0
    assert Notification.objects.count() == 0


def test_bulk_limits(sender_client, alice):
    assert sender_client.post(BULK, {"notifications": []}, format="json").status_code == 400
    items = [body(recipients=[alice.pk])] * 1001
    response = sender_client.post(BULK, {"notifications": items}, format="json")
    assert response.status_code == 400
    assert "notifications" in response.json()
    assert Content.objects.count() == 0


def test_audience_needs_the_broadcast_permission(sender_client, alice):
    response = sender_client.post(SEND, body(audience="all"), format="json")
    assert response.status_code == 403
    assert Content.objects.count() == 0


def test_audience_all_is_queued_then_fanned_out(broadcaster, alice, bob, django_capture_on_commit_callbacks):
    from notifications import tasks
    from tests.notifications.api.conftest import client_for

    client = client_for(broadcaster)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(SEND, body(audience="all"), format="json")
    assert response.status_code == 202, response.content
    assert response.data["status"] == "queued"
    assert len(callbacks) == 1  # the fan-out task is enqueued after commit
    assert Notification.objects.count() == 0
    content = Content.objects.get(uuid=response.data["id"])
    # when the worker runs the task (ids only)
    assert tasks.notification_broadcast_fan_out(content.pk, "all") == 3
    recipients = set(Notification.objects.filter(content=content).values_list("recipient_id", flat=True))
    assert recipients == {broadcaster.pk, alice.pk, bob.pk}
    assert Content.objects.get(pk=content.pk).recipient_count == 3
    # and a redelivered task writes nothing more
    assert tasks.notification_broadcast_fan_out(content.pk, "all") == 0
    assert Notification.objects.filter(content=content).count() == 3


def test_audience_group_reaches_only_members_in_batches(broadcaster, alice, bob, django_capture_on_commit_callbacks):
    from notifications import services
    from tests.notifications.api.conftest import client_for

    group = Group.objects.create(name="ops")
    alice.groups.add(group)
    bob.groups.add(group)
    client = client_for(broadcaster)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(SEND, body(audience="group:ops"), format="json")
    assert response.status_code == 202
    assert Notification.objects.count() == 0  # nothing written in the request
    content_id = Content.objects.get().pk
    # when the worker runs batch by batch (batch size 1), and one batch twice (the broker may redeliver)
    assert services.notification_broadcast_batch(content_id=content_id, audience="group:ops", batch_size=1) == 1
    assert services.notification_broadcast_batch(content_id=content_id, audience="group:ops", batch_size=1) == 1
    assert services.notification_broadcast_batch(content_id=content_id, audience="group:ops", batch_size=1) == 0
    assert len(callbacks) == 1
    # then every member got exactly one, nobody else any
    assert sorted(Notification.objects.values_list("recipient_id", flat=True)) == sorted([alice.pk, bob.pk])


def test_unknown_group_is_a_400(broadcaster):
    from tests.notifications.api.conftest import client_for

    response = client_for(broadcaster).post(SEND, body(audience="group:nope"), format="json")
    assert response.status_code == 400
    assert "audience" in response.json()
    assert Content.objects.count() == 0


def test_bulk_resolves_recipients_in_one_query(sender, alice, bob):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.sending import ONE_STATEMENT_SENDS
    from notifications.services import notification_send_bulk

    # given more items than one statement takes (the general path), to users given as ids and as objects
    count = ONE_STATEMENT_SENDS + 10
    sends = [
        {"recipients": [alice.pk] if i % 2 else [bob], "category": "comment", "title": f"t{i}"} for i in range(count)
    ]
    # when
    with CaptureQueriesContext(connection) as ctx:
        results = notification_send_bulk(sends=sends, actor=sender)
    # then the recipients were checked with one query, not one per item
    lookups = [q["sql"] for q in ctx.captured_queries if '"auth_user"."is_active"' in q["sql"]]
    assert len(lookups) == 1
    assert len(results) == count
    assert Notification.objects.filter(recipient=alice).count() == count // 2


def test_an_unknown_username_is_named_in_the_body(sender_client, alice):
    response = sender_client.post(SEND, body(recipient_usernames=["alice", "nobody"]), format="json")
    assert response.status_code == 400
    assert response.json() == {"recipient_usernames": ["Unknown or inactive users: nobody."]}
    assert not Content.objects.exists()


def test_bulk_checks_every_item_before_it_inserts_anything(sender_client, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # given a bulk whose last item names alice and a user who does not exist
    items = [body(recipients=[alice.pk], title=f"t{i}") for i in range(3)]
    items.append(body(recipient_usernames=["alice", "ghost"]))
    # when
    with CaptureQueriesContext(connection) as ctx:
        response = sender_client.post(BULK, {"notifications": items}, format="json")
    # then the item is named, and no send row was inserted at all (not inserted and rolled back)
    assert response.status_code == 400
    assert response.json() == {
        "notifications": [{}, {}, {}, {"recipient_usernames": ["Unknown or inactive users: ghost."]}]
    }
    inserts = [q["sql"] for q in ctx.captured_queries if "INSERT" in q["sql"].upper()]
    assert not [sql for sql in inserts if "notifications_content" in sql or "notifications_notification" in sql]


def test_a_key_reused_for_another_send_after_its_record_expired_is_a_422(sender_client, alice):
    from notifications.models import IdempotencyRecord

    # given a send with a key whose API record is gone (purged) while the send itself remains
    first = sender_client.post(SEND, body(recipients=[alice.pk]), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201
    IdempotencyRecord.objects.all().delete()
    # when the same key comes with another send
    response = sender_client.post(
        SEND, body(recipients=[alice.pk], title="other"), format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    # then the service's conflict is the API's 422, and nothing more was sent
    assert response.status_code == 422
    assert response.json() == {"detail": "This idempotency key was already used for a different send."}
    assert Content.objects.count() == 1
