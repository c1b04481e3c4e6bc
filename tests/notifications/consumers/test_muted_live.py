"""A muted group's new notification on the socket: the frame says `muted` and is read, and the unread count the
socket keeps does not grow (no badge increment)."""

import pytest

from preferences.services import group_mute_create
from tests.factories import send
from tests.notifications.consumers.conftest import adb, connect
from tests.notifications.realtime_helpers import async_test

pytestmark = pytest.mark.django_db(transaction=True)


@async_test
async def test_a_muted_groups_live_frame_is_muted_and_read_and_the_unread_count_does_not_grow(alice):
    # given alice muted post:42 and has one socket open
    await adb(group_mute_create)(user=alice, group_key="post:42")
    ws, hello = await connect(alice)
    assert hello["unread_count"] == 0

    # when a notification of that group reaches her, then one of another group
    await adb(send)([alice], title="muted", group_key="post:42")
    await adb(send)([alice], title="loud", group_key="post:43")

    # then the muted one arrives read and muted, its count stays 0; the other one counts 1
    muted = await ws.receive_json_from(timeout=3)
    assert (muted["type"], muted["notification"]["title"]) == ("notification", "muted")
    assert (muted["notification"]["muted"], muted["notification"]["is_read"]) == (True, True)
    assert await ws.receive_json_from(timeout=3) == {"type": "unread_count", "count": 0}
    loud = await ws.receive_json_from(timeout=3)
    assert (loud["notification"]["title"], loud["notification"]["muted"]) == ("loud", False)
    assert await ws.receive_json_from(timeout=3) == {"type": "unread_count", "count": 1}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()
