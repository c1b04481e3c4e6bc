"""Outbound webhooks end to end (issue 16, item 2): events recorded on read / archive / delivery, batched per
endpoint, signed, posted to a real receiver on loopback, retried through the delivery states, disabled after
sustained failure; private categories without content; SSRF refused at registration and at send time.

Over 400 lines on purpose: every test here runs against the same loopback receiver and dataset fixtures, and reads
as one story of the feature (record, batch, sign, post, retry, disable); split, they would repeat the fixtures."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import jobs, services
from notifications.delivery.machine import deliveries_sweep_stuck
from notifications.delivery.retention import notifications_purge
from notifications.delivery.webhooks import webhook_deliveries_retry_dead, webhooks_dispatch
from notifications.models import (
    Delivery,
    DeliveryStatus,
    Notification,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventPending,
)
from notifications.webhooks import webhook_endpoint_create, webhook_endpoint_update
from notifyproject.celery import app as celery_app
from tests.factories import make_user, send
from tests.notifications.delivery.helpers import deliveries_of, send_now
from tests.notifications.webhook_receiver import documented_verify, receiver_start

READ = "notification.read"
ARCHIVED = "notification.archived"
PRIVATE_KEYS = {
    "id",
    "send_id",
    "recipient",
    "seq",
    "category",
    "priority",
    "private",
    "created_at",
    "read_at",
    "archived_at",
    "retracted_at",
}


@pytest.fixture
def receiver():
    server = receiver_start()
    yield server
    server.stop()


@pytest.fixture
def loopback(settings):
    """The receiver is on loopback and speaks plain HTTP: allowed explicitly, as only tests do."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.WEBHOOK_REQUIRE_HTTPS = False


@pytest.fixture(autouse=True)
def eager(monkeypatch):
    """Tasks run in the calling thread whatever REDIS_URL says: the test is the worker."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def endpoint_for(producer, receiver, events=(READ,)) -> WebhookEndpoint:
    endpoint, secret = webhook_endpoint_create(producer=producer, url=receiver.url, events=list(events))
    receiver.secret = secret
    return endpoint


def worker_runs() -> int:
    """What the worker does when woken or when beat runs it, with every retry's backoff over."""
    WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).update(due_at=timezone.now() - timedelta(seconds=1))
    return webhooks_dispatch()


def read_one(user, result) -> None:
    services.notification_mark_read(user=user, ids=result.notification_ids)


# --- Signatures and the body ----------------------------------------------------------------------------------------


def test_a_loopback_receiver_verifies_the_signature_with_the_documented_snippet(sender, alice, receiver, loopback):
    # given an endpoint of the sender for reads, and a notification the sender sent to alice
    endpoint = endpoint_for(sender, receiver)
    result = send([alice], actor=sender, plan=False, title="Bob replied", body="Looks good", data={"post": 42})
    # when alice reads it and the worker runs
    read_one(alice, result)
    assert worker_runs() == 1
    # then the receiver got one POST whose signature the documented snippet verifies
    (request,) = receiver.requests
    assert request.verified is True
    assert request.path == "/hooks/notify"
    assert request.headers["Content-Type"] == "application/json"
    batch = WebhookDelivery.objects.get()
    assert request.headers["Webhook-Id"] == str(batch.uuid)
    body = request.json()
    assert body["id"] == str(batch.uuid)
    assert body["endpoint"] == str(endpoint.uuid)
    (event,) = body["events"]
    assert event["type"] == READ
    n = event["notification"]
    assert n["id"] == str(result.notification_ids[0])
    assert n["send_id"] == str(result.id)
    assert (n["title"], n["body"], n["data"], n["private"]) == ("Bob replied", "Looks good", {"post": 42}, False)
    assert n["read_at"] is not None
    assert (batch.status, batch.attempts, batch.response_status) == (DeliveryStatus.SENT, 1, 200)
    # and the snippet refuses another secret, a changed body, an old timestamp
    verify = documented_verify()
    timestamp, signature = request.headers["Webhook-Timestamp"], request.headers["Webhook-Signature"]
    assert verify(receiver.secret, timestamp, signature, request.body) is True
    assert verify("whsec_other", timestamp, signature, request.body) is False
    assert verify(receiver.secret, timestamp, signature, request.body.replace(b"Bob", b"Eve")) is False
    assert verify(receiver.secret, str(int(timestamp) - 3600), signature, request.body) is False
    # and nothing is left to send
    assert WebhookEventPending.objects.count() == 0
    assert worker_runs() == 0
    assert len(receiver.requests) == 1


def test_only_the_producers_notifications_and_the_subscribed_events_reach_the_endpoint(
    sender, alice, receiver, loopback
):
    # given the sender's endpoint for reads only, and another producer
    endpoint_for(sender, receiver, events=[READ])
    other = make_user("other-producer", perms=["send_notification"])
    mine = send([alice], actor=sender, plan=False, title="Mine")
    theirs = send([alice], actor=other, plan=False, title="Theirs")
    cli = send([alice], plan=False, producer="cli", title="From the shell")
    # when alice archives the sender's notification (not subscribed) and reads all three
    services.notification_archive(user=alice, ids=mine.notification_ids)
    services.notification_mark_all_read(user=alice)
    worker_runs()
    # then one request with the read of the sender's notification only
    (request,) = receiver.requests
    events = request.json()["events"]
    assert [(e["type"], e["notification"]["id"]) for e in events] == [(READ, str(mine.notification_ids[0]))]
    assert str(theirs.notification_ids[0]) not in request.body.decode()
    assert str(cli.notification_ids[0]) not in request.body.decode()


def test_state_changes_post_nothing_themselves_the_worker_does(
    sender, alice, receiver, loopback, django_capture_on_commit_callbacks
):
    # given an endpoint (embedded mode: tasks eager, no worker process)
    endpoint = endpoint_for(sender, receiver, events=[READ, ARCHIVED])
    result = send([alice], actor=sender, plan=False)
    # when alice reads and archives, and the transaction commits (its after-commit work runs)
    with django_capture_on_commit_callbacks(execute=True):
        services.notification_update_state(user=alice, ids=result.notification_ids, read=True, archived=True)
    # then the request itself posted nothing: two events wait
    assert receiver.requests == []
    assert sorted(WebhookEventPending.objects.values_list("event", flat=True)) == [ARCHIVED, READ]
    assert set(WebhookEventPending.objects.values_list("endpoint_id", flat=True)) == {endpoint.pk}
    # and the worker's run posts both in one batch
    worker_runs()
    (request,) = receiver.requests
    assert sorted(e["type"] for e in request.json()["events"]) == [ARCHIVED, READ]


# --- Retries, dead, disabled ---------------------------------------------------------------------------------------


def test_a_receiver_failing_three_times_then_succeeding_gets_the_event_once_more_not_twice_more(
    sender, alice, receiver, loopback
):
    # given a receiver that answers 500 three times, then 200
    endpoint_for(sender, receiver)
    receiver.answers = [500, 500, 500]
    result = send([alice], actor=sender, plan=False)
    read_one(alice, result)
    # when the worker runs, each time the backoff is over, more often than needed
    for _ in range(6):
        worker_runs()
    # then it got the batch four times: three failures and the one success, nothing after
    assert [r.status for r in receiver.requests] == [500, 500, 500, 200]
    assert len({r.body for r in receiver.requests}) == 1  # the same body every time, the same event id
    assert len({r.headers["Webhook-Id"] for r in receiver.requests}) == 1
    assert all(r.verified for r in receiver.requests)
    batch = WebhookDelivery.objects.get()
    assert (batch.status, batch.attempts, batch.last_error) == (DeliveryStatus.SENT, 4, "")
    assert WebhookEndpoint.objects.get().consecutive_failures == 0


def test_a_failed_post_is_retried_with_backoff_not_at_once(sender, alice, receiver, loopback):
    endpoint_for(sender, receiver)
    receiver.answers = [503]
    read_one(alice, send([alice], actor=sender, plan=False))
    before = timezone.now()
    webhooks_dispatch()
    batch = WebhookDelivery.objects.get()
    assert (batch.status, batch.last_error) == (DeliveryStatus.FAILED, "HTTP 503")
    assert batch.due_at > before
    # not due yet: the next run posts nothing
    webhooks_dispatch()
    assert len(receiver.requests) == 1


def test_a_batch_goes_dead_after_the_last_attempt_and_staff_can_retry_it(sender, alice, receiver, loopback, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    endpoint_for(sender, receiver)
    receiver.answers = [500, 500]
    read_one(alice, send([alice], actor=sender, plan=False))
    for _ in range(4):
        worker_runs()
    batch = WebhookDelivery.objects.get()
    assert (batch.status, batch.attempts, len(receiver.requests)) == (DeliveryStatus.DEAD, 2, 2)
    # when staff retry it
    assert webhook_deliveries_retry_dead(deliveries=WebhookDelivery.objects.all()) == 1
    worker_runs()
    # then it went out once more and succeeded
    assert [r.status for r in receiver.requests] == [500, 500, 200]
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == (DeliveryStatus.SENT, 1)


def test_a_redirect_is_never_followed(sender, alice, receiver, loopback):
    endpoint_for(sender, receiver)
    receiver.answers = [302]
    read_one(alice, send([alice], actor=sender, plan=False))
    webhooks_dispatch()
    assert [r.path for r in receiver.requests] == ["/hooks/notify"]
    batch = WebhookDelivery.objects.get()
    assert (batch.status, batch.last_error) == (DeliveryStatus.FAILED, "HTTP 302: redirects are not followed")


def test_sustained_failure_disables_the_endpoint_and_tells_staff(
    sender, alice, bob, receiver, loopback, settings, django_capture_on_commit_callbacks
):
    # given an endpoint disabled after 3 failed posts in a row, and a receiver that always fails
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    settings.ADMINS = [("Ops", "ops@example.com")]
    endpoint = endpoint_for(sender, receiver)
    receiver.answers = [500] * 20
    read_one(alice, send([alice], actor=sender, plan=False))
    # when the worker runs three times
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            worker_runs()
    # then the endpoint is disabled, says why, its batch is dead, and the admins got one email without the secret
    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert endpoint.disabled_reason.startswith("3 failed posts in a row since ")
    assert endpoint.disabled_at is not None
    batch = WebhookDelivery.objects.get()
    assert (batch.status, batch.last_error) == (DeliveryStatus.DEAD, "endpoint disabled")
    (notice,) = mail.outbox
    assert notice.subject.endswith("Webhook endpoint disabled")
    assert notice.to == ["ops@example.com"]
    assert f"http://127.0.0.1:{receiver.port}" in notice.body
    assert endpoint.secret not in notice.body
    assert "/hooks/notify" not in notice.body
    # and nothing more is recorded or posted for it
    read_one(bob, send([bob], actor=sender, plan=False))
    assert WebhookEventPending.objects.count() == 0
    worker_runs()
    assert len(receiver.requests) == 3
    # and enabling it again starts afresh
    webhook_endpoint_update(endpoint=endpoint, active=True)
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures, endpoint.disabled_reason) == (True, 0, "")


def test_one_success_resets_the_failure_count(sender, alice, receiver, loopback, settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    endpoint_for(sender, receiver)
    receiver.answers = [500, 500]
    read_one(alice, send([alice], actor=sender, plan=False))
    for _ in range(3):
        worker_runs()
    receiver.answers = [500, 500]
    read_one(alice, send([alice], actor=sender, plan=False))
    for _ in range(3):
        worker_runs()
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.active, endpoint.consecutive_failures) == (True, 0)
    assert [r.status for r in receiver.requests] == [500, 500, 200, 500, 500, 200]


# --- Privacy -----------------------------------------------------------------------------------------------------


def test_a_private_category_read_sends_ids_and_state_never_content(sender, alice, receiver, loopback):
    # given a security notification (a private category) with content
    endpoint_for(sender, receiver)
    result = send(
        [alice],
        actor=sender,
        plan=False,
        category="security",
        title="Password reset for alice",
        body="Use code 918273",
        url="/reset/secret-token",
        data={"code": "918273"},
        group_key="reset:alice",
    )
    # when alice reads it
    read_one(alice, result)
    worker_runs()
    # then the event says which notification and its state, and nothing of its content
    (request,) = receiver.requests
    (event,) = request.json()["events"]
    assert set(event["notification"]) == PRIVATE_KEYS
    assert event["notification"]["private"] is True
    assert event["notification"]["category"] == "security"
    assert event["notification"]["id"] == str(result.notification_ids[0])
    assert event["notification"]["read_at"] is not None
    for secret in (b"Password reset", b"918273", b"secret-token", b"reset:alice"):
        assert secret not in request.body
    assert b"918273" not in WebhookDelivery.objects.get().body.encode()


# --- Delivery events -------------------------------------------------------------------------------------------


def test_an_email_delivered_is_an_event_with_its_delivery_channel(sender, alice, receiver, loopback):
    endpoint_for(sender, receiver, events=["delivery.email.delivered", "delivery.webpush.delivered"])
    result = send([alice], actor=sender, category="mention", title="Hi")
    (email,) = deliveries_of(result, channel="email")
    assert send_now([email]) == {"sent": 1}
    worker_runs()
    (request,) = receiver.requests
    (event,) = request.json()["events"]
    assert (event["type"], event["channel"]) == ("delivery.email.delivered", "email")
    assert event["notification"]["id"] == str(result.notification_ids[0])


def test_a_delivery_the_sweeper_finds_dead_after_a_lost_worker_is_a_failed_event(
    sender, alice, receiver, loopback, settings
):
    # given an email whose worker died while sending it, on its last attempt
    endpoint_for(sender, receiver, events=["delivery.email.failed"])
    result = send([alice], actor=sender, category="mention", title="Hi")
    (email,) = deliveries_of(result, channel="email")
    long_ago = timezone.now() - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT + 60)
    Delivery.objects.filter(pk=email.pk).update(
        status=DeliveryStatus.SENDING, attempts=settings.DELIVERY_MAX_ATTEMPTS, updated_at=long_ago
    )

    # when the sweeper finds it, and a second sweep runs
    assert deliveries_sweep_stuck() == 1
    assert deliveries_sweep_stuck() == 0

    # then it is dead, and the producer's endpoint hears of it once, as a failed email
    assert Delivery.objects.get(pk=email.pk).status == DeliveryStatus.DEAD
    worker_runs()
    (request,) = receiver.requests
    (event,) = request.json()["events"]
    assert (event["type"], event["channel"]) == ("delivery.email.failed", "email")
    assert event["notification"]["id"] == str(result.notification_ids[0])


# --- Batching --------------------------------------------------------------------------------------------------


def test_mark_all_read_of_5000_notifications_is_five_requests_not_5000(sender, alice, receiver, loopback):
    # given 5,000 notifications the sender sent to alice, and an endpoint for reads (1,000 events per post)
    endpoint_for(sender, receiver)
    for chunk in range(5):
        items = [{"recipients": [alice.pk], "category": "comment", "title": f"n{chunk}-{i}"} for i in range(1000)]
        services.notification_send_bulk(sends=items, actor=sender)
    # when alice marks everything read: a bounded number of queries, whatever the count
    with CaptureQueriesContext(connection) as queries:
        assert services.notification_mark_all_read(user=alice) == 5000
    sqls = [q["sql"] for q in queries.captured_queries]
    inserts = [sql for sql in sqls if sql.startswith('INSERT INTO "notifications_webhookeventpending"')]
    # one bulk insert: one statement on PostgreSQL, SQLite's bound-parameter limit splits it in ~250-row statements
    assert len(inserts) == 1 if connection.vendor == "postgresql" else len(inserts) <= 25
    assert len(sqls) - len(inserts) <= 8  # the state change itself, one endpoint and one producer lookup
    assert WebhookEventPending.objects.count() == 5000
    worker_runs()
    # then five requests carried the 5,000 events, each notification once
    assert len(receiver.requests) == 5
    ids = [e["notification"]["id"] for r in receiver.requests for e in r.json()["events"]]
    assert len(ids) == len(set(ids)) == 5000
    assert set(ids) == {str(u) for u in Notification.objects.filter(recipient=alice).values_list("uuid", flat=True)}
    assert all(r.verified for r in receiver.requests)
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SENT).count() == 5


# --- SSRF --------------------------------------------------------------------------------------------------------

SSRF_URLS = ["http://169.254.169.254/", "http://[::1]/", "http://localhost:{port}/hooks/notify"]


@pytest.mark.parametrize("url", SSRF_URLS)
def test_registering_a_private_loopback_or_link_local_url_is_refused(sender, receiver, settings, url):
    # given plain http allowed, so only the address rule is in play, and private addresses not allowed (the default)
    settings.WEBHOOK_REQUIRE_HTTPS = False
    assert settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES is False
    with pytest.raises(ValidationError) as refused:
        webhook_endpoint_create(producer=sender, url=url.format(port=receiver.port), events=[READ])
    (message,) = refused.value.message_dict["url"]
    assert "private, loopback or link-local address" in message
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.net/x", "must be an https URL without credentials"),
        ("https://user:pw@hooks.example.net/x", "must be an https URL without credentials"),
        ("ftp://hooks.example.net/x", "must be an https URL without credentials"),
        ("https://10.1.2.3/x", "private, loopback or link-local address"),
        ("https://[::ffff:127.0.0.1]/x", "private, loopback or link-local address"),
        ("https://hooks.invalid/x", "does not resolve"),
        ("not a url", "not a URL"),
    ],
)
def test_registration_refuses_what_the_server_may_not_post_to_by_default(sender, url, reason):
    with pytest.raises(ValidationError) as refused:
        webhook_endpoint_create(producer=sender, url=url, events=[READ])
    assert reason in refused.value.message_dict["url"][0]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", SSRF_URLS)
def test_at_send_time_a_private_loopback_or_link_local_url_is_never_posted_to(sender, alice, receiver, settings, url):
    # given an endpoint stored while loopback was allowed (or before the rules), now with the setting off
    settings.WEBHOOK_REQUIRE_HTTPS = False
    url = url.format(port=receiver.port)
    WebhookEndpoint.objects.create(producer=sender, url=url, events=[READ], secret="whsec_x")
    read_one(alice, send([alice], actor=sender, plan=False))
    # when the worker runs
    worker_runs()
    # then nothing reached the receiver, and the batch is dead, saying why
    assert receiver.requests == []
    batch = WebhookDelivery.objects.get()
    assert batch.status == DeliveryStatus.DEAD
    assert batch.last_error.startswith("endpoint refused (")
    assert "private, loopback or link-local address" in batch.last_error


def test_events_must_be_known_and_at_least_one(sender, receiver, loopback):
    with pytest.raises(ValidationError) as refused:
        webhook_endpoint_create(producer=sender, url=receiver.url, events=["notification.exploded"])
    assert refused.value.message_dict == {"events": ["Unknown events: 'notification.exploded'."]}
    with pytest.raises(ValidationError):
        webhook_endpoint_create(producer=sender, url=receiver.url, events=[])
    # the reserved retract event is accepted today
    endpoint, _secret = webhook_endpoint_create(
        producer=sender, url=receiver.url, events=["notification.retracted", READ, READ]
    )
    assert endpoint.events == ["notification.retracted", READ]


def test_the_secret_is_returned_once_and_masked_after(sender, receiver, loopback):
    endpoint, secret = webhook_endpoint_create(producer=sender, url=receiver.url, events=[READ])
    assert secret.startswith("whsec_") and len(secret) > 40
    assert endpoint.secret_masked == f"{secret[:6]}…{secret[-4:]}"
    assert secret not in str(endpoint)
    assert json.dumps({"masked": endpoint.secret_masked}).find(secret) == -1


def test_retention_purges_old_batches_and_the_pending_events_of_purged_notifications(sender, alice, settings):
    # given an old notification with a pending event, an old batch and a recent one
    settings.NOTIFICATIONS_RETENTION_DAYS = 30
    endpoint = WebhookEndpoint.objects.create(producer=sender, url="https://h.example.com/", events=[READ], secret="s")
    old = send([alice], actor=sender, plan=False)
    long_ago = timezone.now() - timedelta(days=40)
    Notification.objects.filter(content=old.content).update(created_at=long_ago)
    WebhookEventPending.objects.create(
        endpoint=endpoint, notification_id=Notification.objects.get().pk, event=READ, occurred_at=long_ago
    )
    stale = WebhookDelivery.objects.create(endpoint=endpoint, body="{}", event_count=1, due_at=long_ago)
    WebhookDelivery.objects.filter(pk=stale.pk).update(created_at=long_ago)
    recent = WebhookDelivery.objects.create(endpoint=endpoint, body="{}", event_count=1, due_at=timezone.now())
    # when retention runs
    assert notifications_purge() == 1
    # then the old ones are gone, the recent batch stays
    assert WebhookEventPending.objects.count() == 0
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [recent.pk]


def test_in_production_a_state_change_wakes_a_worker_by_name_and_the_worker_hands_out_ids_only(
    sender, alice, receiver, loopback, monkeypatch, django_capture_on_commit_callbacks
):
    # given production mode (a broker, not eager)
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    woken: list = []
    published: list = []
    monkeypatch.setattr(jobs._waker, "wake", woken.append)
    monkeypatch.setattr(celery_app, "send_task", lambda name, args=(), **kw: published.append((name, tuple(args))))
    endpoint_for(sender, receiver)
    result = send([alice], actor=sender, plan=False, title="Secret title")
    # when alice reads it and the transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        read_one(alice, result)
    # then a worker is woken by task name, and nothing was posted here
    assert woken == ["notifications.tasks.webhooks_dispatch"]
    assert receiver.requests == []
    # and the woken worker hands the batch to a send task by id, never with content
    assert webhooks_dispatch() == 1
    assert published == [("notifications.tasks.webhook_send", ([WebhookDelivery.objects.get().pk],))]
    assert receiver.requests == []


def test_a_state_change_nobody_subscribed_to_wakes_nothing_and_writes_nothing(
    sender, alice, receiver, loopback, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    woken: list = []
    monkeypatch.setattr(jobs._waker, "wake", woken.append)
    endpoint_for(sender, receiver, events=[ARCHIVED])
    result = send([alice], actor=sender, plan=False)
    with django_capture_on_commit_callbacks(execute=True):
        read_one(alice, result)
    assert woken == []
    assert WebhookEventPending.objects.count() == 0
