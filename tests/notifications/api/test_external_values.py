"""Values from outside never 500 and are never stored out of range (issue 11: datetimes, nested data, query values),
and one stored bad value never fails anyone else's send."""

import itertools
from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.models import Content, Notification
from notifications.services import notify
from notifications.validation import DATETIME_MAX, DATETIME_MIN
from preferences.models import UserSettings
from tests.factories import make_user
from tests.notifications.api.conftest import client_for

SEND = "/api/v1/notifications/send/"
BULK = "/api/v1/notifications/send-bulk/"
PREFS = "/api/v1/preferences/"
LIST = "/api/v1/notifications/"
EDGES = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2100-01-01T00:00:00Z", "1999-12-31T23:59:59Z"]


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("value", EDGES)
def test_muted_until_outside_the_range_is_a_400_and_writes_nothing(alice, value):
    response = client_for(alice).patch(PREFS, {"muted_until": value}, format="json")
    assert response.status_code == 400
    assert "muted_until" in response.json()
    assert not UserSettings.objects.filter(user=alice).exists()


def test_muted_until_is_stored_in_utc(alice):
    response = client_for(alice).patch(PREFS, {"muted_until": "2030-06-01T12:00:00+02:00"}, format="json")
    assert response.status_code == 200
    assert UserSettings.objects.get(user=alice).muted_until == datetime(2030, 6, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("value", EDGES)
def test_expires_at_outside_the_range_is_a_400_on_every_send_path(sender, alice, value):
    body = {"recipients": [alice.pk], "category": "comment", "title": "x", "expires_at": value}
    assert client_for(sender).post(SEND, body, format="json").status_code == 400
    bulk = {"notifications": [body]}
    assert client_for(sender).post(BULK, bulk, format="json").status_code == 400
    assert Content.objects.count() == 0


def test_the_python_api_refuses_an_expiry_that_overflows_utc(alice):
    far = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12)))
    with pytest.raises(ValidationError) as caught:
        notify(recipients=[alice], category="comment", title="x", expires_at=far)
    assert "expires_at" in caught.value.message_dict
    assert Content.objects.count() == 0


@pytest.mark.parametrize("value", [*EDGES, "2026-02-30T00:00:00Z", "yesterday"])
def test_list_filters_outside_the_range_are_a_400(alice, value):
    for name in ("since", "before"):
        assert client_for(alice).get(LIST, {name: value}).status_code == 400


@pytest.mark.parametrize("depth", [17, 260, 1000])
def test_deeply_nested_data_is_a_400_on_every_send_path(sender, alice, depth):
    # written by hand: Python's own encoders stop before 1,000 levels
    data = '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)
    body = f'{{"recipients": [{alice.pk}], "category": "comment", "title": "x", "data": {data}}}'
    response = client_for(sender).post(SEND, body, content_type="application/json")
    assert response.status_code == 400
    assert "data" in response.json() or depth > 255  # past orjson's own limit the body is a parse error
    bulk = f'{{"notifications": [{body}]}}'
    assert client_for(sender).post(BULK, bulk, content_type="application/json").status_code == 400
    with pytest.raises(ValidationError):
        notify(recipients=[alice], category="comment", title="x", data=nested(depth))
    assert Content.objects.count() == 0


def test_data_nested_to_the_limit_is_sent(sender, alice):
    body = {"recipients": [alice.pk], "category": "comment", "title": "x", "data": nested(16)}
    assert client_for(sender).post(SEND, body, format="json").status_code == 201
    assert client_for(sender).post(BULK, {"notifications": [body]}, format="json").status_code == 201


@pytest.mark.parametrize(
    "query",
    [
        "until=9999-12-31",
        "since=0001-01-01",
        "until=0001-01-01",
        "before_seq=%C2%B2",
        "before_seq=99999999999999999999999",
        "before_seq=-1",
        "status=%00",
    ],
)
def test_center_query_values_never_500(alice, query):
    client = Client()
    client.force_login(alice)
    assert client.get(f"/notifications/?{query}").status_code == 200


def test_a_stored_out_of_range_mute_fails_nobody(postgres, sender, alice, bob, django_capture_on_commit_callbacks):
    # given a muted_until PostgreSQL holds but no driver can read (as the unbounded PATCH used to store)
    UserSettings.objects.create(user=alice)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE preferences_usersettings SET muted_until = '10000-01-01T11:59:59Z'")
    # then her pages and preferences still answer, reading her as not muted
    browser = Client()
    browser.force_login(alice)
    assert browser.get("/preferences/").status_code == 200
    assert client_for(alice).get(PREFS).json()["muted_until"] is None
    # and a send that includes her reaches everyone, planned deliveries included
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(sender).post(
            SEND, {"recipients": [alice.pk, bob.pk], "category": "mention", "title": "hi"}, format="json"
        )
    assert response.status_code == 201
    assert Notification.objects.filter(recipient__in=[alice, bob]).count() == 2
    content = Content.objects.get()
    assert {d.notification.recipient_id for d in deliveries_of_content(content)} == {alice.pk, bob.pk}
    # and she can replace the value
    assert client_for(alice).patch(PREFS, {"muted_until": None}, format="json").status_code == 200


def deliveries_of_content(content):
    from notifications.models import Delivery
    from notifications.tasks import deliveries_plan

    deliveries_plan()
    return Delivery.objects.filter(notification__content=content).select_related("notification")


# --- Property: any datetime-ish value on any datetime field ------------------------------------------------------

OFFSETS = st.integers(min_value=-14 * 60 + 1, max_value=14 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
WHEN = st.one_of(
    st.datetimes(timezones=OFFSETS).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.text(max_size=40),
    st.integers(),
    st.none(),
)


_users = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=WHEN)
def test_no_datetime_field_answers_5xx_or_stores_out_of_range(db, value):
    user = make_user(f"prop{next(_users)}", perms=["send_notification"])
    api = client_for(user)
    prefs = api.patch(PREFS, {"muted_until": value}, format="json")
    send = api.post(
        SEND, {"recipients": [user.pk], "category": "comment", "title": "x", "expires_at": value}, format="json"
    )
    listed = api.get(LIST, {"since": value} if value is not None else {})
    assert max(prefs.status_code, send.status_code, listed.status_code) < 500
    stored = [
        *UserSettings.objects.filter(user=user).values_list("muted_until", flat=True),
        *Content.objects.filter(notifications__recipient=user).values_list("expires_at", flat=True),
    ]
    assert all(DATETIME_MIN <= v < DATETIME_MAX for v in stored if v is not None)


def test_staff_editing_settings_in_the_admin_obey_the_same_bounds(staff, alice):
    # given a staff member editing a user's settings in the admin
    settings_row = UserSettings.objects.create(user=alice)
    browser = Client()
    browser.force_login(staff)
    url = f"/admin/preferences/usersettings/{settings_row.pk}/change/"
    form = {
        "user": alice.pk,
        "timezone": "UTC",
        "email_digest": "off",
        "muted_until_0": "9999-12-31",
        "muted_until_1": "23:59:59",
    }
    # when the mute is out of range, or the zone unknown, the form refuses and nothing changes
    assert browser.post(url, form).status_code == 200
    assert browser.post(url, {**form, "muted_until_0": "2030-01-01", "timezone": "Mars/Olympus"}).status_code == 200
    settings_row.refresh_from_db()
    assert settings_row.muted_until is None and settings_row.timezone == "UTC"
    # and a valid edit is saved
    assert browser.post(url, {**form, "muted_until_0": "2030-01-01"}).status_code == 302
    settings_row.refresh_from_db()
    assert settings_row.muted_until == datetime(2030, 1, 1, 23, 59, 59, tzinfo=UTC)


def test_staff_cannot_save_quiet_hours_that_start_when_they_end_in_the_admin(staff, alice):
    # given a staff member editing a user's settings in the admin
    settings_row = UserSettings.objects.create(user=alice)
    browser = Client()
    browser.force_login(staff)
    url = f"/admin/preferences/usersettings/{settings_row.pk}/change/"
    form = {"user": alice.pk, "timezone": "UTC", "email_digest": "off", "quiet_hours_enabled": "on"}
    # when the quiet hours start and end at 09:00
    response = browser.post(url, {**form, "quiet_start": "09:00", "quiet_end": "09:00"})
    # then the form says why and nothing is saved
    assert response.status_code == 200
    assert "Quiet hours must start and end at different times." in response.content.decode()
    settings_row.refresh_from_db()
    assert (settings_row.quiet_hours_enabled, settings_row.quiet_start, settings_row.quiet_end) == (False, None, None)
    # and different times are saved
    assert browser.post(url, {**form, "quiet_start": "09:00", "quiet_end": "17:00"}).status_code == 302
    settings_row.refresh_from_db()
    assert (settings_row.quiet_start, settings_row.quiet_end) == (time(9, 0), time(17, 0))
