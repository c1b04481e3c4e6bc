"""Frames from the client: read state, bad frames, size and flood limits."""

from uuid import uuid4

import orjson
import pytest

from notifications.models import Notification
from tests.factories import send
from tests.notifications.consumers.conftest import adb, connect, frames
from tests.notifications.realtime_helpers import async_test

pytestmark = pytest.mark.django_db(transaction=True)


# --- read state ---------------------------------------------------------------------------------------------------


@async_test
async def test_mark_read_and_unread_update_every_tab(alice):
    a = (await adb(send)([alice])).notification_ids[0]
    b = (await adb(send)([alice])).notification_ids[0]
    tab1, _ = await connect(alice)
    tab2, _ = await connect(alice)
    await tab1.send_json_to({"type": "mark_read", "ids": [str(a), str(b)]})
    for tab in (tab1, tab2):
        updated, count = await frames(tab, 2)
        assert updated["type"] == "notification_updated"
        assert sorted(updated["ids"]) == sorted([str(a), str(b)])
        assert updated["read"] is True
        assert "archived" not in updated
        assert count == {"type": "unread_count", "count": 0, "groups": 0}
    await tab2.send_json_to({"type": "mark_unread", "ids": [str(a)]})
    for tab in (tab1, tab2):
        assert await frames(tab, 2) == [
            {"type": "notification_updated", "ids": [str(a)], "read": False},
            {"type": "unread_count", "count": 1, "groups": 1},
        ]
    await tab1.disconnect()
    await tab2.disconnect()


@async_test
async def test_mark_all_read_up_to_a_seq(alice):
    for _ in range(3):
        await adb(send)([alice])
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "mark_all_read", "up_to_seq": 2})
    updated, count = await frames(ws, 2)
    assert len(updated["ids"]) == 2 and updated["read"] is True
    assert count == {"type": "unread_count", "count": 1, "groups": 1}
    unread = await adb(lambda: list(Notification.objects.filter(read_at__isnull=True).values_list("seq", flat=True)))()
    assert unread == [3]
    await ws.send_json_to({"type": "mark_all_read"})
    assert (await frames(ws, 2))[1] == {"type": "unread_count", "count": 0, "groups": 0}
    await ws.disconnect()


@async_test
async def test_another_users_ids_are_ignored_and_never_revealed(alice, bob):
    theirs = (await adb(send)([bob])).notification_ids[0]
    ws, _ = await connect(alice)
    await ws.send_json_to({"type": "mark_read", "ids": [str(theirs), str(uuid4())]})
    assert await ws.receive_nothing(timeout=0.3)
    assert await adb(lambda: Notification.objects.get(uuid=theirs).read_at)() is None
    await ws.disconnect()


BAD_FRAMES = [
    ({"type": "mark_read", "ids": ["not-a-uuid"]}, "bad_ids"),
    ({"type": "mark_read", "ids": [1]}, "bad_ids"),
    ({"type": "mark_read", "ids": "abc"}, "bad_ids"),
    ({"type": "mark_unread"}, "bad_ids"),
    ({"type": "mark_read", "ids": []}, "bad_ids"),
    ({"type": "mark_read", "ids": [str(uuid4()) for _ in range(501)]}, "bad_ids"),
    ({"type": "mark_all_read", "up_to_seq": "5"}, "bad_request"),
    ({"type": "mark_all_read", "up_to_seq": -1}, "bad_request"),
    ({"type": "subscribe", "group": "user.1"}, "unknown_type"),
    ({"type": 5}, "bad_frame"),
    ([1, 2], "bad_frame"),
    ("just a string", "bad_frame"),
]


@async_test
async def test_bad_frames_get_an_error_and_the_socket_stays_open(alice):
    a = (await adb(send)([alice])).notification_ids[0]
    ws, _ = await connect(alice)
    for frame, code in BAD_FRAMES:
        await ws.send_to(text_data=orjson.dumps(frame).decode())
        error = await ws.receive_json_from()
        assert error["type"] == "error" and error["code"] == code and error["message"], frame
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    assert await adb(lambda: Notification.objects.get(uuid=a).read_at)() is None
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()


@async_test
async def test_garbage_and_binary_frames_get_errors(alice):
    ws, _ = await connect(alice)
    await ws.send_to(text_data="{not json")
    assert (await ws.receive_json_from())["code"] == "bad_json"
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await ws.receive_json_from())["code"] == "bad_frame"
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


@async_test
async def test_an_oversized_frame_gets_an_error_then_4009_from_the_consumer(alice):
    ws, _ = await connect(alice)
    await ws.send_to(text_data=orjson.dumps({"type": "ping", "pad": "x" * (64 * 1024)}).decode())
    assert (await ws.receive_json_from(timeout=2))["code"] == "frame_too_big"
    assert await ws.receive_output(timeout=2) == {"type": "websocket.close", "code": 4009}


@async_test
async def test_a_frame_just_under_the_limit_is_processed(alice):
    ws, _ = await connect(alice)
    text = orjson.dumps({"type": "ping", "pad": ""}).decode()
    await ws.send_to(text_data=text[:-2] + "x" * (64 * 1024 - len(text)) + '"}')
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


@async_test
async def test_flood_gets_an_error_then_4429_and_other_users_are_unaffected(alice, bob, settings):
    settings.WS_RATE_BURST = 10
    settings.WS_RATE_PER_SECOND = 1
    flooder, _ = await connect(alice)
    calm, _ = await connect(bob)
    for _ in range(30):
        await flooder.send_json_to({"type": "ping"})
    replies = []
    while True:
        out = await flooder.receive_output(timeout=2)
        replies.append(orjson.loads(out["text"]) if out["type"] == "websocket.send" else out)
        if out["type"] == "websocket.close":
            break
    assert replies[:10] == [{"type": "pong"}] * 10
    assert replies[10] == {"type": "error", "code": "rate_limited", "message": "Too many frames."}
    assert replies[11:] == [{"type": "websocket.close", "code": 4429}]
    await calm.send_json_to({"type": "ping"})
    assert await calm.receive_json_from() == {"type": "pong"}
    await calm.disconnect()
