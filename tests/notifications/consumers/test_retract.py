"""A producer's update and retraction over the socket: every recipient's tabs get the new content in place, then
the retraction and the count without it; a reconnect or a resume never brings a retracted one back."""

import pytest

from notifications.services import notification_retract, notification_update, notify
from tests.factories import make_user, send
from tests.notifications.consumers.conftest import adb, connect, frames
from tests.notifications.realtime_helpers import async_test

pytestmark = pytest.mark.django_db(transaction=True)


@async_test
async def test_a_second_users_socket_sees_the_content_change_then_the_retraction(alice, bob):
    # given a producer's send to alice and bob, an older one of bob's, and a socket of each
    producer = await adb(make_user)("crm", perms=["send_notification"])
    await adb(send)([bob], title="older")
    sent = await adb(notify)(recipients=[alice, bob], category="comment", title="Draft", body="v1", actor=producer)
    alice_id, bob_id = sent.notification_ids
    alice_tab, _ = await connect(alice)
    bob_tab, hello = await connect(bob)
    assert hello["unread_count"] == 2

    # when the producer updates it
    await adb(notification_update)(send_id=sent.id, actor=producer, title="Final", body="v2", data={"v": 2})

    # then bob's socket gets the whole new notification in place (his row: his id and seq), and no count change
    (updated,) = await frames(bob_tab, 1)
    assert updated["type"] == "notification_updated" and updated["ids"] == [str(bob_id)]
    n = updated["notification"]
    assert (n["id"], n["seq"], n["title"], n["body"], n["data"], n["is_read"]) == (
        str(bob_id),
        2,
        "Final",
        "v2",
        {"v": 2},
        False,
    )
    (alice_updated,) = await frames(alice_tab, 1)
    assert alice_updated["notification"]["id"] == str(alice_id) and alice_updated["notification"]["title"] == "Final"
    assert await bob_tab.receive_nothing(timeout=0.2)

    # when the producer retracts it
    await adb(notification_retract)(send_id=sent.id, actor=producer)

    # then every socket is told which of its notifications left, then the count without it
    assert await frames(bob_tab, 2) == [
        {"type": "notification_retracted", "ids": [str(bob_id)]},
        {"type": "unread_count", "count": 1},
    ]
    assert await frames(alice_tab, 2) == [
        {"type": "notification_retracted", "ids": [str(alice_id)]},
        {"type": "unread_count", "count": 0},
    ]
    await alice_tab.disconnect()
    await bob_tab.disconnect()

    # and a new socket counts it no more, and a resume from before it does not replay it
    tab, hello = await connect(bob)
    assert hello["unread_count"] == 1 and hello["last_seq"] == 2
    await tab.send_json_to({"type": "resume", "last_seq": 0})
    replayed, done = await frames(tab, 2)
    assert replayed["notification"]["title"] == "older"
    assert done == {"type": "replay_done", "last_seq": 1, "count": 1}
    await tab.disconnect()


@async_test
async def test_a_retraction_reaches_only_the_recipients(alice, bob):
    # given a send to alice only, and a socket of bob's
    producer = await adb(make_user)("crm", perms=["send_notification"])
    sent = await adb(notify)(recipients=[alice], category="comment", title="For alice", actor=producer)
    bob_tab, _ = await connect(bob)
    # when it is updated and retracted
    await adb(notification_update)(send_id=sent.id, actor=producer, title="Edited")
    await adb(notification_retract)(send_id=sent.id, actor=producer)
    # then bob's socket heard nothing of it
    assert await bob_tab.receive_nothing(timeout=0.3)
    await bob_tab.disconnect()
