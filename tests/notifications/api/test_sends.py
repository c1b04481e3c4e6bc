"""The producer's own sends over REST: read, update (validated as a send), retract, by send id or Idempotency-Key,
retract by group_key; another producer and the recipients get 404 and nothing changes."""

import pytest

from notifications.models import Content, Notification
from notifications.services import notify
from tests.factories import make_user
from tests.notifications.api.conftest import client_for

SEND = "/api/v1/notifications/send/"


def _send(client, recipients, key=None, **fields):
    body = {"recipients": [u.pk for u in recipients], "category": "comment", "title": "Draft", **fields}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = client.post(SEND, body, format="json", **headers)
    assert response.status_code == 201, response.content
    return response.json()


def test_the_producer_updates_its_send_and_every_recipient_reads_the_new_content(sender_client, alice, bob):
    # given a send to alice and bob
    sent = _send(sender_client, [alice, bob], body="v1", group_key="post:42")
    # when the producer patches it
    response = sender_client.patch(
        f"/api/v1/notifications/sends/{sent['id']}/",
        {"title": "Final", "body": "v2", "actions": [{"label": "Open", "url": "/p/42"}], "data": {"v": 2}},
        format="json",
    )
    # then it answers the send as it is now
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["title"], body["body"], body["data"], body["group_key"]) == (
        sent["id"],
        "Final",
        "v2",
        {"v": 2},
        "post:42",
    )
    assert body["actions"] == [{"label": "Open", "url": "/p/42", "style": "secondary"}]
    assert body["updated_at"] is not None and body["retracted_at"] is None and body["recipient_count"] == 2
    # and both recipients' inboxes show it
    for user in (alice, bob):
        (item,) = client_for(user).get("/api/v1/notifications/").json()["results"]
        assert (item["title"], item["body"], item["data"]) == ("Final", "v2", {"v": 2})


def test_a_bad_update_is_a_400_naming_the_fields_and_changes_nothing(sender_client, alice):
    sent = _send(sender_client, [alice])
    url = f"/api/v1/notifications/sends/{sent['id']}/"
    blank = sender_client.patch(url, {"title": ""}, format="json")
    assert blank.status_code == 400 and set(blank.json()) == {"title"}
    bad = sender_client.patch(url, {"url": "javascript:alert(1)", "image_url": "ftp://cdn.example.com/"}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"url", "image_url"}
    fixed = sender_client.patch(url, {"category": "security", "recipients": [1]}, format="json")
    assert fixed.status_code == 400 and set(fixed.json()) == {"category", "recipients"}
    big = sender_client.patch(url, {"data": {"x": "y" * 5000}}, format="json")
    assert big.status_code == 400 and set(big.json()) == {"data"}
    content = Content.objects.get(uuid=sent["id"])
    assert (content.title, content.url, content.category.slug, content.data, content.updated_at) == (
        "Draft",
        "",
        "comment",
        {},
        None,
    )


def test_retract_takes_it_out_of_the_inbox_detail_and_count_and_an_update_after_it_is_a_409(sender_client, alice):
    # given a send to alice
    sent = _send(sender_client, [alice])
    (nid,) = sent["notification_ids"]
    alice_client = client_for(alice)
    assert alice_client.get("/api/v1/notifications/unread-count/").json()["count"] == 1
    # when the producer retracts it
    response = sender_client.post(f"/api/v1/notifications/sends/{sent['id']}/retract/")
    # then the send says so, and alice has it no more: not listed, detail 404, not counted
    assert response.status_code == 200 and response.json()["retracted_at"] is not None
    assert alice_client.get("/api/v1/notifications/?status=all").json()["results"] == []
    assert alice_client.get(f"/api/v1/notifications/{nid}/").status_code == 404
    assert alice_client.patch(f"/api/v1/notifications/{nid}/", {"archived": False}, format="json").status_code == 404
    assert alice_client.get("/api/v1/notifications/unread-count/").json() == {"count": 0, "by_category": {}}
    # and retracting again answers the same; updating is refused
    again = sender_client.post(f"/api/v1/notifications/sends/{sent['id']}/retract/")
    assert again.status_code == 200 and again.json()["retracted_at"] == response.json()["retracted_at"]
    late = sender_client.patch(f"/api/v1/notifications/sends/{sent['id']}/", {"title": "back"}, format="json")
    assert late.status_code == 409
    assert Content.objects.get(uuid=sent["id"]).title == "Draft"


def test_another_producer_and_the_recipient_get_404_and_nothing_changes(sender_client, alice):
    # given a send by one producer
    sent = _send(sender_client, [alice], key="order-1")
    other = client_for(make_user("shop", perms=["send_notification"]))
    recipient = client_for(alice)
    # when another producer and the recipient try every operation on it, by id and by key
    for client in (other, recipient):
        for method, url, body in (
            ("get", f"/api/v1/notifications/sends/{sent['id']}/", None),
            ("patch", f"/api/v1/notifications/sends/{sent['id']}/", {"title": "Hijacked"}),
            ("patch", f"/api/v1/notifications/sends/{sent['id']}/", {"title": ""}),
            ("post", f"/api/v1/notifications/sends/{sent['id']}/retract/", None),
            ("get", "/api/v1/notifications/sends/by-key/?idempotency_key=order-1", None),
            ("patch", "/api/v1/notifications/sends/by-key/?idempotency_key=order-1", {"title": "Hijacked"}),
            ("post", "/api/v1/notifications/sends/by-key/retract/?idempotency_key=order-1", None),
        ):
            response = getattr(client, method)(url, body, format="json")
            # then 404, exactly as for a send that does not exist, with nothing of it in the answer
            assert response.status_code == 404, (method, url, response.status_code)
            assert "Draft" not in response.content.decode()
        assert client.post("/api/v1/notifications/retract/", {"group_key": ""}, format="json").status_code == 400
    content = Content.objects.get(uuid=sent["id"])
    assert (content.title, content.retracted_at) == ("Draft", None)
    assert Notification.objects.get(content=content).archived_at is None


def test_a_user_with_manage_any_notification_updates_and_retracts_any_producers_send(sender_client, alice):
    sent = _send(sender_client, [alice])
    moderator = client_for(make_user("mod", perms=["manage_any_notification"]))
    url = f"/api/v1/notifications/sends/{sent['id']}/"
    assert moderator.patch(url, {"title": "Moderated"}, format="json").json()["title"] == "Moderated"
    assert moderator.post(f"{url}retract/").status_code == 200
    assert Content.objects.get(uuid=sent["id"]).retracted_at is not None


def test_update_and_retract_by_idempotency_key(sender_client, alice):
    sent = _send(sender_client, [alice], key="order-7")
    by_key = "/api/v1/notifications/sends/by-key/?idempotency_key=order-7"
    assert sender_client.get(by_key).json()["id"] == sent["id"]
    assert sender_client.patch(by_key, {"body": "Shipped"}, format="json").json()["body"] == "Shipped"
    retracted = sender_client.post("/api/v1/notifications/sends/by-key/retract/?idempotency_key=order-7")
    assert retracted.status_code == 200 and retracted.json()["id"] == sent["id"]
    assert Content.objects.get(uuid=sent["id"]).retracted_at is not None
    assert sender_client.get("/api/v1/notifications/sends/by-key/").status_code == 400
    assert sender_client.get("/api/v1/notifications/sends/by-key/?idempotency_key=nope").status_code == 404


def test_retract_by_group_key_takes_only_the_callers_sends(sender_client, alice):
    mine = _send(sender_client, [alice], group_key="comment:9")
    shop = client_for(make_user("shop", perms=["send_notification"]))
    theirs = _send(shop, [alice], group_key="comment:9")
    response = sender_client.post("/api/v1/notifications/retract/", {"group_key": "comment:9"}, format="json")
    assert response.status_code == 200 and response.json() == {"sends": 1, "notifications": 1}
    assert Content.objects.get(uuid=mine["id"]).retracted_at is not None
    assert Content.objects.get(uuid=theirs["id"]).retracted_at is None
    assert [n["group_key"] for n in client_for(alice).get("/api/v1/notifications/").json()["results"]] == ["comment:9"]


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_send_id_is_a_404(sender_client, bad):
    assert sender_client.get(f"/api/v1/notifications/sends/{bad}/").status_code == 404
    assert sender_client.post(f"/api/v1/notifications/sends/{bad}/retract/").status_code == 404


def test_a_by_key_lookup_matches_the_key_exactly_and_refuses_what_no_key_can_be(sender, sender_client, alice):
    # given a send made through the Python API with a key that has a space at its end
    sent = notify(recipients=[alice], category="comment", title="Spaced", actor=sender, idempotency_key="k ")
    # then only that exact key finds it, and a NUL in the key is a 400 (never a database error)
    assert sender_client.get("/api/v1/notifications/sends/by-key/?idempotency_key=k%20").json()["id"] == str(sent.id)
    assert sender_client.get("/api/v1/notifications/sends/by-key/?idempotency_key=k").status_code == 404
    assert sender_client.get("/api/v1/notifications/sends/by-key/?idempotency_key=k%00").status_code == 400
    nul = sender_client.post("/api/v1/notifications/retract/", {"group_key": "a\x00"}, format="json")
    assert nul.status_code == 400
