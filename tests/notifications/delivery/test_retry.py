"""Staff's "retry dead deliveries" (machine.deliveries_retry_dead): dead rows go back to pending and out again;
nothing else is touched."""

from datetime import timedelta

from django.utils import timezone

from notifications.delivery.machine import deliveries_retry_dead
from notifications.models import Delivery, DeliveryStatus, Notification
from tests.factories import make_user, send
from tests.notifications.delivery.helpers import deliveries_of, reload, send_now


def _dead_sent_skipped(smtp, settings):
    """One send to three users: alice's email dead (permanent SMTP error), bob's sent, carol's skipped (read)."""
    settings.DELIVERY_MAX_ATTEMPTS = 3
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    result = send([alice, bob, carol], title="Quarterly report", priority="urgent")
    emails = {d.notification.recipient.username: d for d in deliveries_of(result, channel="email")}
    Notification.objects.filter(content=result.content, recipient=carol).update(read_at=timezone.now())
    smtp.handler.replies["alice@example.com"] = "550 5.1.1 no such user"
    send_now(list(emails.values()))
    smtp.handler.replies.clear()
    return result, emails


def test_a_dead_delivery_goes_back_to_pending_and_the_dispatcher_sends_it_in_embedded_mode(
    db, smtp, eager, settings, django_capture_on_commit_callbacks
):
    # given a send whose email to alice is dead, to bob sent and to carol skipped
    result, emails = _dead_sent_skipped(smtp, settings)
    dead, sent, skipped = reload(emails["alice"]), reload(emails["bob"]), reload(emails["carol"])
    assert (dead.status, sent.status, skipped.status) == ("dead", "sent", "skipped")
    assert [m["To"] for m in smtp.messages] == ["bob@example.com"]

    # when staff retry the dead deliveries of that send, and the transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        retried = deliveries_retry_dead(deliveries=Delivery.objects.filter(notification__content=result.content))

    # then only alice's was retried, and the dispatcher sent it right away
    assert retried == 1
    assert [m["To"] for m in smtp.messages] == ["bob@example.com", "alice@example.com"]
    again = reload(dead)
    assert (again.status, again.attempts, again.last_error) == (DeliveryStatus.SENT, 1, "")
    # and bob's and carol's rows were not touched at all
    assert reload(sent).updated_at == sent.updated_at and reload(sent).sent_at == sent.sent_at
    assert (reload(skipped).status, reload(skipped).skip_reason) == (DeliveryStatus.SKIPPED, "read")
    assert reload(skipped).updated_at == skipped.updated_at


def test_a_retried_row_is_pending_due_now_with_a_fresh_budget_and_nothing_goes_out_before_commit(
    db, smtp, settings, django_capture_on_commit_callbacks
):
    # given a dead delivery (out of attempts) and one that failed and waits for its backoff
    _result, emails = _dead_sent_skipped(smtp, settings)
    Delivery.objects.filter(pk=emails["alice"].pk).update(attempts=3)
    later = timezone.now() + timedelta(minutes=5)
    Delivery.objects.filter(pk=emails["bob"].pk).update(status=DeliveryStatus.FAILED, due_at=later)
    before = timezone.now()

    # when they are retried inside a transaction that has not committed yet
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        retried = deliveries_retry_dead(deliveries=Delivery.objects.filter(pk__in=[d.pk for d in emails.values()]))

    # then the dead one is pending, due now, unleased, with its attempts reset; the failed one keeps its backoff
    assert retried == 1
    row = reload(emails["alice"])
    assert (row.status, row.attempts, row.leased_until) == (DeliveryStatus.PENDING, 0, None)
    assert before <= row.due_at <= timezone.now()
    assert (reload(emails["bob"]).status, reload(emails["bob"]).due_at) == (DeliveryStatus.FAILED, later)
    # and the dispatcher is woken once, after commit only: no email left yet
    assert len(callbacks) == 1
    assert [m["To"] for m in smtp.messages] == ["bob@example.com"]


def test_retrying_without_dead_rows_changes_nothing_and_wakes_nobody(
    db, smtp, settings, django_capture_on_commit_callbacks
):
    result, emails = _dead_sent_skipped(smtp, settings)
    Delivery.objects.filter(pk=emails["alice"].pk).delete()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        retried = deliveries_retry_dead(deliveries=Delivery.objects.filter(notification__content=result.content))
    assert retried == 0
    assert callbacks == []
    assert sorted(Delivery.objects.filter(notification__content=result.content).values_list("status", flat=True)) == [
        "sent",
        "skipped",
    ]
