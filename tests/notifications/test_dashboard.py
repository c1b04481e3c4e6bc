"""The staff dashboard: exact numbers on a small dataset, a fixed number of queries whatever the data, and who may
see it (staff with notifications.view_dashboard; others 403 or the admin login)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import dashboard
from notifications.models import Content, Delivery, DeliveryStatus, Notification, WebhookEndpoint
from tests.factories import make_user, make_users, send

URL = "/admin/notifications/content/dashboard/"


@pytest.fixture
def viewer(db):
    user = make_user("dash-viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    return user


def _dataset(prefix: str, sends: int) -> list:
    users = make_users(3, prefix)
    for i in range(sends):
        send(users if i % 2 else users[:1], title=f"{prefix}{i}", category="comment" if i % 3 else "security")
    return users


def test_sends_are_counted_per_hour_and_category_with_their_recipients(db):
    users = make_users(3, "dh")
    send(users, category="comment")
    send(users[:1], category="comment")
    send(users[:2], category="security")
    old = send(users, category="comment")
    Content.objects.filter(pk=old.content.pk).update(created_at=timezone.now() - timedelta(days=2))
    now = timezone.now()
    result = dashboard.dashboard_sends(since=now - timedelta(hours=24), now=now)
    assert len(result.hours) in (24, 25)
    assert sum(result.sends) == 3 and sum(result.notifications) == 6
    assert result.by_category == {"comment": 2, "security": 1}


def test_the_funnel_counts_each_state_and_skip_reason_per_channel(db):
    users = make_users(2, "df")
    sent = send(users, category="security", priority="urgent")
    rows = Delivery.objects.filter(notification__content=sent.content, channel="email").order_by("pk")
    assert rows.count() == 2
    first, second = rows
    Delivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.SENT, sent_at=timezone.now())
    Delivery.objects.filter(pk=second.pk).update(status=DeliveryStatus.SKIPPED, skip_reason="read")
    funnel = dashboard.dashboard_funnel(since=timezone.now() - timedelta(hours=1))
    assert funnel == {"email": {"planned": 2, "sent": 1, "skipped:read": 1}}


def test_read_rate_and_median_time_to_read_per_category(db):
    users = make_users(4, "dr")
    result = send(users, category="comment")
    created = Notification.objects.filter(content=result.content).order_by("pk")
    for row, seconds in zip(created[:2], (10, 30), strict=True):
        Notification.objects.filter(pk=row.pk).update(read_at=row.created_at + timedelta(seconds=seconds))
    (stats,) = dashboard.dashboard_reads(since=timezone.now() - timedelta(hours=1))
    assert (stats.category, stats.notifications, stats.read, stats.median_seconds_to_read) == ("comment", 4, 2, 20.0)
    assert stats.read_rate == 0.5


def test_failing_targets_name_the_device_and_count_its_deliveries(db):
    users = make_users(1, "dx")
    result = send(users, category="security", priority="urgent")
    Delivery.objects.filter(notification__content=result.content).update(
        status=DeliveryStatus.FAILED, last_error="SMTP 451 try later"
    )
    assert dashboard.dashboard_failing() == [
        {"channel": "email", "target": "account email", "n": 1, "error": "SMTP 451 try later"}
    ]


def test_failing_and_disabled_webhook_endpoints_are_listed_by_origin_only(db):
    # given a healthy endpoint, one failing for a while and one disabled after sustained failure
    producer = make_user("dash-producer")
    since = timezone.now() - timedelta(hours=2)
    WebhookEndpoint.objects.create(producer=producer, url="https://ok.example.com/hook", secret="s1")
    WebhookEndpoint.objects.create(
        producer=producer,
        url="https://a.example.com/hook/secret-token",
        secret="s2",
        consecutive_failures=3,
        failing_since=since,
    )
    WebhookEndpoint.objects.create(
        producer=producer,
        url="https://b.example.com:8443/x",
        secret="s3",
        active=False,
        consecutive_failures=9,
        failing_since=since - timedelta(hours=1),
        disabled_at=timezone.now(),
        disabled_reason="failing for 3 h",
    )

    # when the dashboard lists what is failing
    rows = dashboard.dashboard_webhooks_failing()

    # then the disabled one comes first (failing longest), the healthy one not at all, and no path is shown
    assert [(r["origin"], r["state"], r["failures"], r["reason"]) for r in rows] == [
        ("https://b.example.com:8443", "disabled", 9, "failing for 3 h"),
        ("https://a.example.com", "failing", 3, ""),
    ]
    assert all(r["producer"] == "dash-producer" for r in rows)


def test_the_page_takes_the_same_queries_for_little_and_much_data(client, viewer):
    client.force_login(viewer)
    client.get(URL)  # warm: session, permissions, the category cache

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(URL + "?window=7d")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    _dataset("few", 2)
    few = queries()
    _dataset("many", 40)
    many = queries()
    assert few == many <= 12


def test_the_page_shows_charts_with_tables_behind_them(client, viewer):
    _dataset("show", 3)
    client.force_login(viewer)
    body = client.get(URL).content.decode()
    assert body.count('<svg role="img"') >= 3
    assert "<caption>Sends per hour, last 24h</caption>" in body
    assert "<caption>Read rate per category</caption>" in body


def test_staff_without_the_permission_get_403_and_others_the_login(client, db):
    staff = make_user("dash-staff", is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    client.force_login(make_user("dash-user"))
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.slow
def test_the_page_stays_on_its_queries_with_a_large_table(client, viewer, postgres):
    # given 1,000,000 notification rows (and their contents) written by PostgreSQL itself
    user = make_user("dash-big")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO notifications_content (uuid, category_id, priority, title, body, url, image_url, actions, "
            "data, group_key, producer, idempotency_key, fingerprint, recipient_count, created_at) "
            "SELECT gen_random_uuid(), (SELECT id FROM notifications_category WHERE slug = 'comment'), 'normal', "
            "'t' || g, '', '', '', '[]', '{}', '', 'system', '', '', 1, now() - (g / 2 || ' seconds')::interval "
            "FROM generate_series(1, 1000000) g"
        )
        cursor.execute(
            "INSERT INTO notifications_notification (uuid, recipient_id, content_id, category_id, seq, created_at) "
            "SELECT gen_random_uuid(), %s, c.id, c.category_id, row_number() OVER (ORDER BY c.id), c.created_at "
            "FROM notifications_content c WHERE c.title LIKE 't%%'",
            [user.pk],
        )
    client.force_login(viewer)
    client.get(URL)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL + "?window=7d")
    assert response.status_code == 200
    assert len(ctx.captured_queries) <= 12
    assert "1000000 sends" in response.content.decode()
    # and no query of the page reads the whole notification table
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE notifications_notification")
        cursor.execute("ANALYZE notifications_content")
        for query in ctx.captured_queries:
            if "notifications_notification" in query["sql"]:
                cursor.execute("EXPLAIN " + query["sql"])
                plan = "\n".join(row[0] for row in cursor.fetchall())
                assert "Seq Scan on notifications_notification" not in plan, plan
