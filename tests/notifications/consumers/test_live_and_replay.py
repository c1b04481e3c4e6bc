"""Live notifications, resume and replay, lost frames and layer reconnects, publishing after commit, unread count."""

import asyncio
from collections.abc import Sequence

import pytest
from channels.layers import get_channel_layer
from django.conf import settings as django_settings

from notifications import realtime
from notifications.models import Notification
from tests.factories import send
from tests.notifications.consumers.conftest import adb, connect, frames
from tests.notifications.realtime_helpers import async_test

pytestmark = pytest.mark.django_db(transaction=True)


# --- live notifications -------------------------------------------------------------------------------------------


@async_test
async def test_notification_reaches_every_tab_of_the_recipient_and_nobody_else(alice, bob):
    tab1, _ = await connect(alice)
    tab2, _ = await connect(alice)
    other, _ = await connect(bob)
    result = await adb(send)([alice], title="For Alice", body="b", data={"k": 1})
    for tab in (tab1, tab2):
        frame = await tab.receive_json_from(timeout=3)
        assert frame["type"] == "notification"
        assert frame["replay"] is False
        n = frame["notification"]
        assert n["id"] == str(result.notification_ids[0])
        assert n["seq"] == 1
        assert (n["title"], n["body"], n["data"], n["category"], n["is_read"]) == (
            "For Alice",
            "b",
            {"k": 1},
            "comment",
            False,
        )
    assert await other.receive_nothing(timeout=0.3)
    for ws in (tab1, tab2, other):
        await ws.disconnect()


@async_test
async def test_forwarding_a_frame_does_not_hop_to_the_thread_pool(alice, monkeypatch):
    ws, _ = await connect(alice)
    hops = []

    async def counting():
        hops.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counting)
    await adb(send)([alice])
    assert (await ws.receive_json_from(timeout=3))["type"] == "notification"
    assert await ws.receive_json_from(timeout=3) == {"type": "unread_count", "count": 1}
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    assert hops == []
    await ws.disconnect()


# --- resume and replay --------------------------------------------------------------------------------------------


@async_test
async def test_resume_replays_what_was_missed_oldest_first_in_pages(alice, settings):
    settings.WS_REPLAY_PAGE = 2
    ids = [(await adb(send)([alice], title=f"n{i}")).notification_ids[0] for i in range(5)]
    ws, hello = await connect(alice)
    assert hello["last_seq"] == 5
    await ws.send_json_to({"type": "resume", "last_seq": 1})
    got = await frames(ws, 5)
    assert [f["notification"]["seq"] for f in got[:4]] == [2, 3, 4, 5]
    assert [f["notification"]["id"] for f in got[:4]] == [str(i) for i in ids[1:]]
    assert all(f["type"] == "notification" and f["replay"] is True for f in got[:4])
    assert got[4] == {"type": "replay_done", "last_seq": 5, "count": 4}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


@async_test
async def test_resume_at_the_head_replays_nothing(alice):
    await adb(send)([alice])
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "resume", "last_seq": 1})
    assert await ws.receive_json_from() == {"type": "replay_done", "last_seq": 1, "count": 0}
    await ws.disconnect()


@async_test
async def test_unusable_cursor_asks_for_a_resync(alice):
    await adb(send)([alice])
    await adb(send)([alice])
    ws, _ = await connect(alice)
    cases = [
        ("3", "invalid_cursor"),
        (None, "invalid_cursor"),
        (True, "invalid_cursor"),
        (1.5, "invalid_cursor"),
        (-1, "invalid_cursor"),
        (3, "cursor_ahead"),
    ]
    for cursor, reason in cases:
        await ws.send_json_to({"type": "resume", "last_seq": cursor})
        assert await ws.receive_json_from() == {"type": "resync_required", "reason": reason}, cursor
    await ws.send_json_to({"type": "resume"})
    assert await ws.receive_json_from() == {"type": "resync_required", "reason": "invalid_cursor"}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


@async_test
async def test_cursor_older_than_retention_asks_for_a_resync(alice):
    for _ in range(4):
        await adb(send)([alice])
    # given retention purged seq 1 and 2
    await adb(lambda: Notification.objects.filter(recipient=alice, seq__lte=2).delete())()
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "resume", "last_seq": 0})
    assert await ws.receive_json_from() == {"type": "resync_required", "reason": "cursor_expired"}
    # a cursor at the edge of what is kept still replays
    await ws.send_json_to({"type": "resume", "last_seq": 2})
    got = await frames(ws, 3)
    assert [f.get("notification", {}).get("seq") for f in got[:2]] == [3, 4]
    assert got[2] == {"type": "replay_done", "last_seq": 4, "count": 2}
    await ws.disconnect()


@async_test
async def test_live_frames_already_replayed_are_not_sent_twice(alice, monkeypatch):
    held: list[Sequence[tuple[str, realtime.Message]]] = []
    monkeypatch.setattr(realtime.publishing, "publish", held.append)
    for _ in range(3):
        await adb(send)([alice])
    monkeypatch.undo()
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "resume", "last_seq": 0})
    assert [f["type"] for f in await frames(ws, 4)] == ["notification"] * 3 + ["replay_done"]
    # when the live frames of the same rows arrive late
    for messages in held:
        await adb(realtime.publish)(messages)
    # then they are dropped: the socket already sent those seqs
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


@async_test
async def test_a_lost_frame_is_refilled_from_the_database_at_the_next_one(alice, monkeypatch):
    ws, _ = await connect(alice)
    monkeypatch.setattr(realtime.publishing, "publish", lambda messages: None)
    lost = (await adb(send)([alice], title="lost")).notification_ids[0]
    monkeypatch.undo()
    await adb(send)([alice], title="next")
    got = await frames(ws, 3)
    assert [(f["notification"]["seq"], f["notification"]["title"]) for f in got[:2]] == [(1, "lost"), (2, "next")]
    assert got[0]["notification"]["id"] == str(lost)
    assert got[2] == {"type": "unread_count", "count": 2}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


@async_test
async def test_layer_reconnect_refills_frames_published_meanwhile(alice, monkeypatch):
    ws, _ = await connect(alice)
    monkeypatch.setattr(realtime.publishing, "publish", lambda messages: None)
    await adb(send)([alice], title="during outage")
    monkeypatch.undo()
    assert await ws.receive_nothing(timeout=0.2)
    # when the layer tells local consumers it reconnected
    await get_channel_layer().group_send(realtime.user_group(alice.pk), {"type": realtime.LAYER_RECOVERED})
    frame = await ws.receive_json_from(timeout=3)
    assert (frame["type"], frame["replay"], frame["notification"]["title"]) == ("notification", False, "during outage")
    await ws.disconnect()


# --- publishing ---------------------------------------------------------------------------------------------------


def test_publish_happens_only_after_commit(alice, monkeypatch):
    published: list[Sequence[tuple[str, realtime.Message]]] = []
    monkeypatch.setattr(realtime.publishing, "publish", published.append)
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        send([alice])
        raise RuntimeError("rolled back")
    assert published == []
    send([alice])
    assert len(published) == 1 and published[0][0][1]["seq"] == 1


def test_embedded_watcher_nudges_only_for_rows_from_other_processes(alice, bob, monkeypatch):
    if django_settings.REDIS_URL:
        pytest.skip("embedded mode only")
    monkeypatch.setattr(realtime.embedded, "_published_high", {})
    send([alice])  # published by this process
    monkeypatch.setattr(realtime.publishing, "publish", lambda messages: None)
    monkeypatch.setattr(realtime.publishing, "embedded_note_published", lambda messages: None)
    send([bob])  # as if from `manage.py notify`
    nudged = []

    class Layer:
        async def group_send(self, group, message):
            nudged.append((group, message))

    async def one_tick():
        monkeypatch.setattr(realtime.embedded, "WATCH_INTERVAL", 0.01)
        task = asyncio.ensure_future(realtime.embedded._embedded_watch(Layer()))
        await asyncio.sleep(0.3)
        task.cancel()

    monkeypatch.setattr("notifications.selectors.notification_max_id", lambda: 0)
    asyncio.run(one_tick())
    assert nudged == [(realtime.user_group(bob.pk), {"type": realtime.LAYER_RECOVERED})]


@async_test
async def test_unread_count_follows_new_notifications_and_state_changes(alice):
    # given two unread notifications before the socket connects
    first = (await adb(send)([alice])).notification_ids[0]
    await adb(send)([alice])
    ws, hello = await connect(alice)
    assert hello["unread_count"] == 2
    # when a new one arrives, the count that follows it includes it
    await adb(send)([alice])
    got = await frames(ws, 2)
    assert got[0]["type"] == "notification"
    assert got[1] == {"type": "unread_count", "count": 3}
    # when one is read elsewhere, the counted value replaces the socket's own
    from notifications.services import notification_mark_read

    await adb(notification_mark_read)(user=alice, ids=[first])
    assert [f["type"] for f in await frames(ws, 2)] == ["notification_updated", "unread_count"]
    await adb(send)([alice])
    got = await frames(ws, 2)
    assert got[1] == {"type": "unread_count", "count": 3}
    # and a resume that replays older rows does not count them again
    await ws.send_json_to({"type": "resume", "last_seq": 0})
    replayed = await frames(ws, 5)
    assert [f["type"] for f in replayed] == ["notification"] * 4 + ["replay_done"]
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()
