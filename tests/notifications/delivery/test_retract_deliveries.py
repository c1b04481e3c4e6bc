"""Email and push of updated and retracted sends: pending ones use the new content or are skipped (`retracted`), and
a web push already shown gets a retract message to the device it went to (nothing of the content in it)."""

from django.utils import timezone
from push_notifications.models import WebPushDevice

from bench.harness.servers import push_decrypt
from notifications.delivery.base import push_group_key_of
from notifications.delivery.webpush_retract import webpush_retractions_send
from notifications.models import Content, DeliveryStatus, SkipReason
from notifications.services import notification_retract, notification_update
from tests.factories import make_user, send
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now


def _device(user, subscription) -> WebPushDevice:
    return WebPushDevice.objects.create(
        user=user, registration_id=subscription.endpoint, p256dh=subscription.p256dh, auth=subscription.auth_b64
    )


def test_a_pending_email_of_an_updated_send_goes_out_with_the_new_content(smtp, alice):
    # given a planned email of a send, not sent yet
    crm = make_user("crm", perms=["send_notification"])
    result = send([alice], title="Draft title", body="Draft body", actor=crm)
    (email,) = deliveries_of(result, channel="email")
    assert email.status == DeliveryStatus.PENDING
    # when the producer updates it before the email is due
    notification_update(send_id=result.id, actor=crm, title="Final title", body="Final body")
    assert send_now([email]) == {"sent": 1}
    # then the email says what the send says now
    (message,) = smtp.messages
    assert message["Subject"] == "Final title"
    assert "Final body" in message.as_string() and "Draft" not in message.as_string()


def test_pending_email_and_push_of_a_retracted_send_are_skipped_and_sent_ones_stay_sent(smtp, alice):
    # given a send with a sent email and a pending push
    crm = make_user("crm", perms=["send_notification"])
    WebPushDevice.objects.create(user=alice, registration_id="https://push.example.com/x", p256dh="k", auth="a")
    result = send([alice], title="gone", actor=crm)
    (email,) = deliveries_of(result, channel="email")
    (push,) = deliveries_of(result, channel="webpush")
    assert send_now([email]) == {"sent": 1}
    # when the producer retracts it
    notification_retract(send_id=result.id, actor=crm)
    # then the pending push is skipped as retracted; the sent email keeps its state
    assert (reload(push).status, reload(push).skip_reason) == (DeliveryStatus.SKIPPED, SkipReason.RETRACTED)
    assert (reload(email).status, reload(email).skip_reason) == (DeliveryStatus.SENT, "")
    assert len(smtp.messages) == 1


def test_the_dispatcher_skips_a_delivery_of_a_send_retracted_after_it_was_claimed(smtp, alice):
    # given a pending email whose send is retracted without the set-based cancel reaching it (a worker held it)
    result = send([alice], title="gone")
    (email,) = deliveries_of(result, channel="email")
    Content.objects.filter(pk=result.content.pk).update(retracted_at=timezone.now())
    # when the worker sends it
    assert send_now([email]) == {"skipped": 1}
    # then nothing went out and the reason says why
    assert smtp.messages == []
    assert (reload(email).status, reload(email).skip_reason) == (DeliveryStatus.SKIPPED, SkipReason.RETRACTED)


def test_a_shown_web_push_gets_a_retract_message_with_its_id_and_tag(push_service, alice, bob):
    # given a web push sent to alice's browser, and one of bob's for another send
    crm = make_user("crm", perms=["send_notification"])
    subscription = push_service.subscription("alice-1")
    _device(alice, subscription)
    _device(bob, push_service.subscription("bob-1"))
    result = send([alice], category="mention", title="Bob mentioned you", priority="urgent", group_key="t-7", actor=crm)
    send([bob], category="mention", title="kept", priority="urgent")
    assert send_now(deliveries_of(result, channel="webpush")) == {"sent": 1}
    push_service.requests.clear()
    # when the send is retracted and the retract messages go out
    notification_retract(send_id=result.id, actor=crm)
    assert webpush_retractions_send(content_ids=[result.content.pk]) == 1
    # then alice's browser got one message naming the notification and the tag it was shown under; bob's nothing
    (request,) = push_service.requests
    assert request.path == "/push/alice-1"
    assert push_decrypt(request, subscription) == {
        "type": "retract",
        "notifications": [{"id": str(result.notification_ids[0]), "tag": "t-7"}],
    }


def test_the_retract_message_of_a_private_category_carries_no_content(push_service, alice):
    crm = make_user("crm", perms=["send_notification"])
    subscription = push_service.subscription("alice-1")
    _device(alice, subscription)
    result = send([alice], category="security", title="New sign-in from Berlin", group_key="login:alice", actor=crm)
    assert send_now(deliveries_of(result, channel="webpush")) == {"sent": 1}
    push_service.requests.clear()
    notification_retract(send_id=result.id, actor=crm)
    assert webpush_retractions_send(content_ids=[result.content.pk]) == 1
    (request,) = push_service.requests
    payload = push_decrypt(request, subscription)
    (item,) = payload["notifications"]
    assert item["tag"] == push_group_key_of(result.content, result.content.category) and item["tag"].startswith("g-")
    assert "Berlin" not in str(payload) and "login:alice" not in str(payload)


def test_nothing_is_pushed_for_a_retracted_send_that_was_never_pushed(push_service, alice):
    crm = make_user("crm", perms=["send_notification"])
    _device(alice, push_service.subscription("alice-1"))
    result = send([alice], title="never pushed", actor=crm)  # its web push is still pending
    notification_retract(send_id=result.id, actor=crm)
    assert webpush_retractions_send(content_ids=[result.content.pk]) == 0
    assert push_service.requests == []
