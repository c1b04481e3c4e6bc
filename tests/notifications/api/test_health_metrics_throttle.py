import pytest
from django.core.cache import cache

from notifications import metrics
from tests.factories import make_user
from tests.notifications.api.conftest import client_for

SEND = "/api/v1/notifications/send/"


def test_healthz_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok", "broker": "ok"}


def test_healthz_names_what_is_down(client, db, settings):
    # given a broker and a channel layer on a port where nothing listens
    dead = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_URL = dead
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [dead]}}
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("down")
    assert body["channel_layer"].startswith("down")


def test_healthz_runs_only_the_checks_named(client, db, settings):
    # given a broker where nothing listens
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    # when a load balancer checks only the database and the channel layer
    response = client.get("/healthz?check=database&check=channel_layer")
    # then the broker is neither checked nor named, and the host counts as healthy
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok"}
    # while the full check still reports it
    assert client.get("/healthz").json()["broker"].startswith("down")


def test_healthz_rejects_an_unknown_check_and_runs_none(client, db):
    response = client.get("/healthz?check=database&check=disk")
    assert response.status_code == 400
    assert response.json() == {"check": ["unknown: disk; known: database, channel_layer, broker"]}


def test_metrics_count_sent_notifications_after_commit(sender, alice, bob, django_capture_on_commit_callbacks):
    def sent() -> float:
        return metrics.NOTIFICATIONS_SENT.labels(category="mention", priority="urgent")._value.get()

    before = sent()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(sender).post(
            SEND,
            {"recipients": [alice.pk, bob.pk], "category": "mention", "priority": "urgent", "title": "x"},
            format="json",
        )
    assert response.status_code == 201
    assert sent() == before + 2
    staff = make_user("boss", is_staff=True)
    text = client_for(staff).get("/metrics").content.decode()
    assert 'notifications_sent_total{category="mention",priority="urgent"}' in text
    assert "notification_publish_latency_seconds_bucket" in text
    assert "websocket_connections_open" in text
    assert "notification_deliveries_total" in text or "notification_deliveries" in text


def test_metrics_not_counted_when_the_send_rolls_back(sender, alice, django_capture_on_commit_callbacks):
    before = metrics.NOTIFICATIONS_SENT.labels(category="comment", priority="normal")._value.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(sender).post(
            SEND, {"recipients": [alice.pk], "category": "comment", "title": "x", "url": "javascript:1"}, format="json"
        )
    assert response.status_code == 400
    assert metrics.NOTIFICATIONS_SENT.labels(category="comment", priority="normal")._value.get() == before


def test_metrics_token(client, db, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def _throttle_case(settings, sender, alice):
    settings.NOTIFICATIONS_SEND_RATE = "3/d"  # a day: the window never rolls over mid-test
    client = client_for(sender)
    payload = {"recipients": [alice.pk], "category": "comment", "title": "x"}
    statuses = [client.post(SEND, payload, format="json") for _ in range(5)]
    assert [r.status_code for r in statuses] == [201, 201, 201, 429, 429]
    assert 1 <= int(statuses[3]["Retry-After"]) <= 86401
    # another sender has its own budget
    other = make_user("other-sender", perms=["send_notification"])
    assert client_for(other).post(SEND, payload, format="json").status_code == 201


def test_sender_throttle_local_memory(sender, alice, settings):
    settings.REDIS_URL = ""
    cache.clear()
    _throttle_case(settings, sender, alice)


def test_sender_throttle_redis(sender, alice, settings, redis_url):
    import redis

    settings.REDIS_PREFIX = f"api-test-{id(settings)}"
    try:
        _throttle_case(settings, sender, alice)
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{settings.REDIS_PREFIX}:throttle:*"):
            client.delete(key)


@pytest.mark.parametrize("rate", ["x/m", "10/fortnight", "0/s"])
def test_bad_rate_setting_is_refused(rate):
    from notifications.api.throttling import rate_parse

    with pytest.raises(ValueError):
        rate_parse(rate)
