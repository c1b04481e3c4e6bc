"""Saved and snoozed over the socket: other tabs learn a save, a snooze leaves every tab at once and comes back live
at its time, and a wake while offline is replayed by resume."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.services import notification_save, notification_snooze, notifications_wake_due
from tests.factories import send
from tests.notifications.consumers.conftest import adb, connect, frames
from tests.notifications.realtime_helpers import async_test

pytestmark = pytest.mark.django_db(transaction=True)


@async_test
async def test_other_tabs_learn_a_save_by_notification_updated(alice):
    n = (await adb(send)([alice])).notification_ids[0]
    tab, _ = await connect(alice)
    await adb(notification_save)(user=alice, ids=[n])
    assert await frames(tab, 2) == [
        {"type": "notification_updated", "ids": [str(n)], "saved": True},
        {"type": "unread_count", "count": 1, "groups": 1},
    ]
    await adb(notification_save)(user=alice, ids=[n], saved=False)
    assert (await frames(tab, 2))[0] == {"type": "notification_updated", "ids": [str(n)], "saved": False}
    await tab.disconnect()


@async_test
async def test_a_snoozed_notification_leaves_every_tab_and_comes_back_live_at_its_time(alice):
    a = (await adb(send)([alice], title="later")).notification_ids[0]
    await adb(send)([alice], title="other")
    tab1, hello = await connect(alice)
    tab2, _ = await connect(alice)
    assert hello["unread_count"] == 2
    until = timezone.now() + timedelta(hours=1)
    # when it is snoozed (from anywhere), every tab learns it and the count drops at once
    await adb(notification_snooze)(user=alice, ids=[a], until=until)
    for tab in (tab1, tab2):
        assert await frames(tab, 2) == [
            {"type": "notification_updated", "ids": [str(a)], "snoozed_until": until.isoformat()},
            {"type": "unread_count", "count": 1, "groups": 1},
        ]
    # nothing before its time
    assert await adb(notifications_wake_due)(now=until - timedelta(seconds=1)) == 0
    assert await tab1.receive_nothing(timeout=0.2)
    # when its time comes, it arrives live with the next seq, unread, then the count includes it
    assert await adb(notifications_wake_due)(now=until) == 1
    for tab in (tab1, tab2):
        woken, count = await frames(tab, 2)
        assert woken["type"] == "notification" and woken["replay"] is False
        n = woken["notification"]
        assert (n["id"], n["seq"], n["title"], n["is_read"], n["snoozed_until"]) == (str(a), 3, "later", False, None)
        assert count == {"type": "unread_count", "count": 2}
    await tab1.disconnect()
    await tab2.disconnect()


@async_test
async def test_a_notification_that_woke_while_offline_is_replayed_by_resume(alice):
    a = (await adb(send)([alice], title="later")).notification_ids[0]
    await adb(send)([alice], title="other")
    until = timezone.now() + timedelta(hours=3)
    await adb(notification_snooze)(user=alice, ids=[a], until=until)
    # given a client that had everything up to seq 2 and then went offline
    ws, hello = await connect(alice)
    assert (hello["unread_count"], hello["last_seq"]) == (1, 2)
    await ws.disconnect()
    # when the snooze ends while it is away
    assert await adb(notifications_wake_due)(now=until) == 1
    # then on reconnect hello counts it, and resuming from its cursor replays it (a newer seq), once
    ws, hello = await connect(alice)
    assert (hello["unread_count"], hello["last_seq"]) == (2, 3)
    await ws.send_json_to({"type": "resume", "last_seq": 2})
    replayed, done = await frames(ws, 2)
    assert replayed["replay"] is True
    assert (replayed["notification"]["id"], replayed["notification"]["seq"]) == (str(a), 3)
    assert replayed["notification"]["snoozed_until"] is None
    assert done == {"type": "replay_done", "last_seq": 3, "count": 1}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()
