"""Snooze (issue 13, item 2): out of the inbox and the count at once, back at its time as unread at the top, live
and by resume; presets in the user's zone; the REST API. Time is controlled by calling the wake sweep with a `now`."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import realtime
from notifications.delivery import scheduler
from notifications.grouping import notification_unread_totals
from notifications.models import Notification, UserSeq
from notifications.selectors import (
    Status,
    notification_list,
    notification_unread_count,
    user_socket_state,
)
from notifications.services import (
    notification_mark_all_read,
    notification_snooze,
    notification_update_state,
    notifications_wake_due,
    snooze_preset_until,
)
from tests.factories import make_user, send
from tests.notifications.api.conftest import client_for

LIST = "/api/v1/notifications/"


def one(user, **fields) -> Notification:
    return Notification.objects.get(uuid=send([user], **fields).notification_ids[0])


def later(**delta) -> datetime:
    return timezone.now() + timedelta(**delta)


def titles(user, status=Status.INBOX) -> list[str]:
    return [n.content.title for n in notification_list(user=user, status=status)]


# --- service ------------------------------------------------------------------------------------------------------


def test_a_snoozed_notification_leaves_the_inbox_and_the_count_and_waits_in_snoozed(alice):
    one(alice, title="a", category="comment")
    b = one(alice, title="b", category="mention")
    until = later(hours=1)
    assert notification_snooze(user=alice, ids=[b.uuid], until=until) == [b.uuid]
    assert titles(alice) == ["a"]
    assert titles(alice, Status.UNREAD) == ["a"]
    assert titles(alice, Status.SNOOZED) == ["b"]
    assert titles(alice, Status.ALL) == ["b", "a"]
    assert notification_unread_totals(user=alice) == {"count": 1, "by_category": {"comment": 1}, "groups": 1}
    assert user_socket_state(user_id=alice.pk).socket_unread == 1  # hello's count too
    b.refresh_from_db()
    assert b.snoozed_until == until and b.read_at is None


def test_it_comes_back_at_its_time_unread_at_the_top_with_a_new_seq(alice):
    # given a read, archived notification snoozed for an hour, and a newer one
    b = one(alice, title="b")
    until = later(hours=1)
    notification_update_state(user=alice, ids=[b.uuid], read=True, archived=True)
    notification_snooze(user=alice, ids=[b.uuid], until=until)
    one(alice, title="c")
    # when the sweep runs a second before its time, nothing wakes
    assert notifications_wake_due(now=until - timedelta(seconds=1)) == 0
    assert titles(alice, Status.SNOOZED) == ["b"]
    # when it runs at its time
    assert notifications_wake_due(now=until) == 1
    # then it is unread, unseen, unarchived, at the top with the user's next seq
    b.refresh_from_db()
    assert (b.snoozed_until, b.read_at, b.archived_at, b.seen_at) == (None, None, None, None)
    assert b.seq == 3 == UserSeq.objects.get(user=alice).last_seq
    assert titles(alice) == ["b", "c"]
    assert notification_unread_count(user=alice) == 2
    # and a second sweep changes nothing
    assert notifications_wake_due(now=until + timedelta(hours=1)) == 0


def test_wake_allocates_seqs_per_user_in_batches_one_statement_each(alice, bob):
    rows = {u: [one(u, title=f"{u.username}{i}") for i in range(3)] for u in (alice, bob)}
    until = later(minutes=5)
    for user, mine in rows.items():
        notification_snooze(user=user, ids=[n.uuid for n in mine], until=until)
    one(alice, title="alice-new")
    # when the sweep wakes them two at a time
    with CaptureQueriesContext(connection) as ctx:
        assert notifications_wake_due(now=until, batch_size=2) == 6
    # then every row got a distinct new seq after the user's last, none reused, none lost
    alice_seqs = sorted(Notification.objects.filter(recipient=alice).values_list("seq", flat=True))
    bob_seqs = sorted(Notification.objects.filter(recipient=bob).values_list("seq", flat=True))
    assert alice_seqs == [4, 5, 6, 7] and bob_seqs == [4, 5, 6]
    assert UserSeq.objects.get(user=alice).last_seq == 7
    if connection.vendor == "postgresql":
        updates = [q for q in ctx.captured_queries if q["sql"].startswith("WITH picked")]
        assert len(updates) == 4  # 2 + 2 + 2 + an empty fourth batch: one statement each, never one per row


def test_unsnooze_brings_it_back_now_at_the_top(alice):
    a = one(alice, title="a")
    one(alice, title="b")
    notification_snooze(user=alice, ids=[a.uuid], until=later(days=2))
    assert notification_snooze(user=alice, ids=[a.uuid], until=None) == [a.uuid]
    assert titles(alice) == ["a", "b"]
    assert notification_snooze(user=alice, ids=[a.uuid], until=None) == []  # not snoozed any more


def test_another_users_ids_are_ignored(alice, bob):
    theirs = one(bob)
    assert notification_snooze(user=alice, ids=[theirs.uuid], until=later(hours=1)) == []
    assert notification_snooze(user=alice, ids=[theirs.uuid], until=None) == []
    theirs.refresh_from_db()
    assert theirs.snoozed_until is None and theirs.seq == 1


@pytest.mark.parametrize("until", [timedelta(seconds=-1), timedelta(0), timedelta(days=366)])
def test_a_snooze_in_the_past_or_beyond_a_year_is_refused(alice, until):
    n = one(alice)
    with pytest.raises(ValidationError):
        notification_snooze(user=alice, ids=[n.uuid], until=timezone.now() + until)
    n.refresh_from_db()
    assert n.snoozed_until is None


def test_mark_all_read_leaves_snoozed_ones_alone(alice):
    a = one(alice)
    one(alice)
    notification_snooze(user=alice, ids=[a.uuid], until=later(hours=1))
    assert notification_mark_all_read(user=alice) == 1
    a.refresh_from_db()
    assert a.read_at is None


def test_snooze_publishes_notification_updated_and_the_lower_count(
    alice, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(realtime.publishing, "publish", lambda messages: published.extend(messages))
    n = one(alice)
    until = later(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        notification_snooze(user=alice, ids=[n.uuid], until=until)
    (message,) = [m for _g, m in published if m["type"] == realtime.STATE_CHANGED]
    assert message["texts"] == [
        realtime.frame_encode(
            {"type": "notification_updated", "ids": [str(n.uuid)], "snoozed_until": until.isoformat()}
        ),
        '{"type":"unread_count","count":0,"groups":0}',
    ]


PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    "choice, expected",
    [
        ("1h", datetime(2026, 3, 27, 23, 30, tzinfo=PARIS)),
        ("3h", datetime(2026, 3, 28, 1, 30, tzinfo=PARIS)),
        ("tomorrow", datetime(2026, 3, 28, 8, 0, tzinfo=PARIS)),
        ("next_week", datetime(2026, 3, 30, 8, 0, tzinfo=PARIS)),  # Monday, after the switch to summer time
    ],
)
def test_presets_are_in_the_users_time_zone(choice, expected):
    now = datetime(2026, 3, 27, 22, 30, tzinfo=PARIS)  # a Friday evening
    assert snooze_preset_until(choice=choice, now=now, zone=PARIS) == expected
    assert expected.utcoffset() == (timedelta(hours=2) if choice == "next_week" else timedelta(hours=1))


def test_next_week_on_a_monday_is_the_monday_after():
    monday = datetime(2026, 3, 30, 7, 0, tzinfo=PARIS)
    assert snooze_preset_until(choice="next_week", now=monday, zone=PARIS) == datetime(2026, 4, 6, 8, 0, tzinfo=PARIS)


def test_the_embedded_scheduler_runs_the_wake_sweep(alice):
    from notifyproject.celery import app as celery_app

    eager, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, True  # embedded mode
    # given a notification whose snooze has just ended, and no broker
    n = one(alice)
    Notification.objects.filter(pk=n.pk).update(snoozed_until=timezone.now() - timedelta(seconds=1))
    # when the embedded scheduler ticks once (the beat schedule's entries, run in this process)
    try:
        scheduler._run_due({})
    finally:
        celery_app.conf.task_always_eager = eager
    # then it woke
    n.refresh_from_db()
    assert n.snoozed_until is None and n.seq == 2


# --- REST ---------------------------------------------------------------------------------------------------------


def test_patch_snoozed_until_and_the_snoozed_filter(alice):
    client = client_for(alice)
    n = one(alice, title="later")
    one(alice, title="now")
    until = later(hours=3).replace(microsecond=0)
    response = client.patch(f"{LIST}{n.uuid}/", {"snoozed_until": until.isoformat()}, format="json")
    assert response.status_code == 200, response.content
    assert datetime.fromisoformat(response.json()["snoozed_until"]) == until
    assert [x["title"] for x in client.get(LIST, {"status": "snoozed"}).json()["results"]] == ["later"]
    assert [x["title"] for x in client.get(LIST).json()["results"]] == ["now"]
    assert client.get(f"{LIST}unread-count/").json() == {"count": 1, "by_category": {"comment": 1}, "groups": 1}
    # null brings it back now, at the top; a read in the same request applies after it
    response = client.patch(f"{LIST}{n.uuid}/", {"snoozed_until": None, "read": True}, format="json")
    body = response.json()
    assert (body["snoozed_until"], body["is_read"], body["seq"]) == (None, True, 3)
    assert [x["title"] for x in client.get(LIST).json()["results"]] == ["later", "now"]


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2020-01-01T00:00:00Z",
        (timezone.now() - timedelta(minutes=1)).isoformat(),
        (timezone.now() + timedelta(days=367)).isoformat(),
        "2200-01-01T00:00:00Z",
        5,
        True,
    ],
)
def test_patch_snoozed_until_bad_values_are_400_and_write_nothing(alice, value):
    n = one(alice)
    before = Notification.objects.filter(pk=n.pk).values().get()
    response = client_for(alice).patch(f"{LIST}{n.uuid}/", {"snoozed_until": value, "read": True}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["snoozed_until"]
    assert Notification.objects.filter(pk=n.pk).values().get() == before


def test_patch_snoozed_until_on_another_users_notification_is_404(alice, bob):
    theirs = one(bob)
    response = client_for(alice).patch(f"{LIST}{theirs.uuid}/", {"snoozed_until": later(hours=1).isoformat()})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.snoozed_until is None


def test_the_unread_count_stays_index_backed(alice):
    """Every unread query names the three conditions of the partial index (PostgreSQL matches predicates)."""
    one(alice)
    with CaptureQueriesContext(connection) as ctx:
        notification_unread_totals(user=alice)
        user_socket_state(user_id=alice.pk)
    for query in ctx.captured_queries:
        sql = query["sql"]
        if "notifications_notification" in sql:
            assert sql.count("IS NULL") >= 3 and "snoozed_until" in sql, sql
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(
                "EXPLAIN SELECT COUNT(*) FROM notifications_notification WHERE recipient_id = %s "
                "AND read_at IS NULL AND archived_at IS NULL AND snoozed_until IS NULL",
                [alice.pk],
            )
            plan = " ".join(row[0] for row in cursor.fetchall())
        assert "notification_unread_idx" in plan


def test_the_wake_sweep_reads_the_wake_index(alice):
    if connection.vendor != "postgresql":
        pytest.skip("the plan of PostgreSQL")
    make_user("someone")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM notifications_notification WHERE snoozed_until IS NOT NULL "
            "AND snoozed_until <= now() ORDER BY snoozed_until, id LIMIT 1000"
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "notification_wake_idx" in plan


# --- the center page (no JavaScript) ------------------------------------------------------------------------------


def test_the_center_snooze_menu_snoozes_by_preset_and_chosen_time_and_unsnoozes(client, alice, bob):
    from preferences.services import preferences_update

    preferences_update(user=alice, quiet_hours={"timezone": "Asia/Tokyo"})
    client.force_login(alice)
    n = one(alice, title="later")
    theirs = one(bob, title="bobs")
    page = client.get("/notifications/").content.decode()
    assert 'aria-label="Snooze: later"' in page and ">Snoozed</a>" in page
    for label in ("1 hour", "3 hours", "Tomorrow morning", "Next week", "Choose a time", "Snooze until then"):
        assert label in page
    assert 'id="snooze-template"' in page
    # a preset: tomorrow 08:00 in the user's zone (Tokyo), answered as JSON for the page's script
    answer = client.post(f"/notifications/{n.uuid}/snooze/", {"until": "tomorrow"}, HTTP_ACCEPT="application/json")
    body = answer.json()
    until = datetime.fromisoformat(body["snoozed_until"])
    tokyo = until.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert (tokyo.hour, tokyo.minute) == (8, 0) and until > timezone.now()
    assert body["changed"] == [str(n.uuid)] and body["unread_count"] == 0 and body["label"].endswith("08:00")
    snoozed = client.get("/notifications/?status=snoozed").content.decode()
    assert "later" in snoozed and "Snoozed until" in snoozed and "Unsnooze now" in snoozed
    assert "later" not in client.get("/notifications/").content.decode().split('id="snooze-template"')[0]
    # a chosen time, typed in the user's zone (a plain form post: redirect back)
    at = (timezone.now() + timedelta(days=2)).astimezone(zoneinfo.ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/notifications/{n.uuid}/snooze/", {"until": "custom", "at": at, "next": "/notifications/"})
    assert response.status_code == 302
    n.refresh_from_db()
    assert n.snoozed_until is not None
    assert f"{n.snoozed_until.astimezone(zoneinfo.ZoneInfo('Asia/Tokyo')):%Y-%m-%dT%H:%M}" == at
    # bad choices are 400 and change nothing; another user's id is 404
    for data in ({"until": "custom", "at": "soon"}, {"until": "custom", "at": "2001-01-01T00:00"}, {"until": "x"}):
        bad = client.post(f"/notifications/{n.uuid}/snooze/", data, HTTP_ACCEPT="application/json")
        assert bad.status_code == 400 and list(bad.json()["errors"]) == ["until"]
    assert client.post(f"/notifications/{theirs.uuid}/snooze/", {"until": "1h"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.snoozed_until is None
    # off: back now
    client.post(f"/notifications/{n.uuid}/snooze/", {"until": "off"})
    n.refresh_from_db()
    assert n.snoozed_until is None and n.seq == 2  # back with a new seq


def test_the_frame_of_a_woken_notification_carries_its_whole_state(
    alice, monkeypatch, django_capture_on_commit_callbacks
):
    import orjson

    published = []
    # where publish lives: realtime.py, or realtime/publishing.py once realtime is a package
    monkeypatch.setattr(getattr(realtime, "publishing", realtime), "publish", lambda ms: published.extend(ms))
    n = one(alice, title="kept")
    until = later(hours=1)
    notification_update_state(user=alice, ids=[n.uuid], saved=True)
    notification_snooze(user=alice, ids=[n.uuid], until=until)
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_wake_due(now=until) == 1
    (group, message), *_ = [m for m in published if m[1]["type"] == realtime.NOTIFICATION_CREATED]
    frame = orjson.loads(message["text"])
    assert group == realtime.user_group(alice.pk) and message["seq"] == 2 == frame["notification"]["seq"]
    assert frame["replay"] is False
    woken = frame["notification"]
    assert (woken["id"], woken["title"], woken["is_read"], woken["snoozed_until"]) == (str(n.uuid), "kept", False, None)
    assert woken["saved_at"] is not None  # still saved: the whole row, not a fresh one's defaults
