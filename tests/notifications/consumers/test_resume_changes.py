"""`resume {last_seq, changed_since}`: retractions and producer updates that happened while a client was away reach
it on its next socket, for the rows it holds (seq <= last_seq) and for no others, before the replay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Content
from notifications.services import notification_retract, notification_update
from notifications.socket_cursor import CHANGED_SINCE_MARGIN, changes_page
from tests.factories import make_user, send
from tests.notifications.consumers.conftest import adb, connect, frames
from tests.notifications.realtime_helpers import async_test

pytestmark = pytest.mark.django_db(transaction=True)


def _backdated(send_id) -> None:
    """A change from well before the client's hello: further back than the margin a resume looks behind it."""
    earlier = timezone.now() - CHANGED_SINCE_MARGIN - timedelta(seconds=30)
    Content.objects.filter(uuid=send_id, retracted_at__isnull=False).update(retracted_at=earlier)
    Content.objects.filter(uuid=send_id, updated_at__isnull=False).update(updated_at=earlier)


@async_test
async def test_a_resume_gets_the_retraction_and_the_update_it_missed_then_the_replay(alice, bob):
    # given alice's rows: one retracted before she ever connected, one to alice and bob, one to be updated, one kept
    producer = await adb(make_user)("crm", perms=["send_notification"])
    old = await adb(send)([alice], title="gone long ago", actor=producer)
    await adb(notification_retract)(send_id=old.id, actor=producer)
    await adb(_backdated)(old.id)
    shared = await adb(send)([alice, bob], title="shared", actor=producer)
    edited = await adb(send)([alice], title="Draft", actor=producer)
    await adb(send)([alice], title="kept")
    tab, hello = await connect(alice)
    assert hello["last_seq"] == 4
    await tab.disconnect()
    # when, while she is away, the shared one is retracted, the draft updated, and a new one sent and retracted
    await adb(notification_retract)(send_id=shared.id, actor=producer)
    await adb(notification_update)(send_id=edited.id, actor=producer, title="Final")
    fresh = await adb(send)([alice], title="new while away")
    never_had = await adb(send)([alice], title="sent and retracted while away", actor=producer)
    await adb(notification_retract)(send_id=never_had.id, actor=producer)
    # and she comes back with the cursor and the time of her last hello
    tab, again = await connect(alice)
    assert (again["last_seq"], again["unread_count"]) == (6, 3)
    await tab.send_json_to({"type": "resume", "last_seq": 4, "changed_since": hello["server_time"]})

    # then exactly her retracted row (not bob's, not the one she never had, not the one retracted before), her
    # updated row with its new content, the count, then the replay of the new one
    retracted, updated, count, replayed, done = await frames(tab, 5)
    assert retracted == {"type": "notification_retracted", "ids": [str(shared.notification_ids[0])]}
    assert updated["type"] == "notification_updated" and updated["ids"] == [str(edited.notification_ids[0])]
    assert (updated["notification"]["id"], updated["notification"]["seq"], updated["notification"]["title"]) == (
        str(edited.notification_ids[0]),
        3,
        "Final",
    )
    assert count == {"type": "unread_count", "count": 3}
    assert (replayed["type"], replayed["notification"]["id"]) == ("notification", str(fresh.notification_ids[0]))
    assert done == {"type": "replay_done", "last_seq": 5, "count": 1}
    assert await tab.receive_nothing(timeout=0.2)
    await tab.disconnect()


@async_test
async def test_a_resume_without_changed_since_or_with_nothing_changed_sends_no_catch_up(alice):
    # given a row of alice's updated before her hello
    producer = await adb(make_user)("crm", perms=["send_notification"])
    sent = await adb(send)([alice], title="Draft", actor=producer)
    await adb(notification_update)(send_id=sent.id, actor=producer, title="Final")
    await adb(_backdated)(sent.id)
    tab, hello = await connect(alice)
    # when she resumes without changed_since, then from her hello's time
    await tab.send_json_to({"type": "resume", "last_seq": 1})
    first = await frames(tab, 1)
    await tab.send_json_to({"type": "resume", "last_seq": 1, "changed_since": hello["server_time"]})
    second = await frames(tab, 1)
    # then neither sent anything but replay_done: the update is older than the time she sent
    assert first == second == [{"type": "replay_done", "last_seq": 1, "count": 0}]
    assert await tab.receive_nothing(timeout=0.2)
    await tab.disconnect()


@async_test
async def test_a_changed_since_older_than_retention_is_clamped_and_still_catches_up(alice):
    # given a row of alice's retracted a moment ago
    producer = await adb(make_user)("crm", perms=["send_notification"])
    sent = await adb(send)([alice], title="x", actor=producer)
    await adb(send)([alice], title="kept")
    await adb(notification_retract)(send_id=sent.id, actor=producer)
    tab, _ = await connect(alice)
    # when she resumes with a time far older than retention (and an offset of her own zone)
    await tab.send_json_to({"type": "resume", "last_seq": 2, "changed_since": "2001-01-01T09:00:00+09:00"})
    # then the retraction is still reported (a kept row's send changed inside the window)
    assert await frames(tab, 3) == [
        {"type": "notification_retracted", "ids": [str(sent.notification_ids[0])]},
        {"type": "unread_count", "count": 1},
        {"type": "replay_done", "last_seq": 2, "count": 0},
    ]
    await tab.disconnect()


@async_test
async def test_a_bad_changed_since_is_an_error_frame_and_the_socket_stays_open(alice):
    # given a retracted row of alice's
    producer = await adb(make_user)("crm", perms=["send_notification"])
    sent = await adb(send)([alice], title="x", actor=producer)
    await adb(notification_retract)(send_id=sent.id, actor=producer)
    tab, _ = await connect(alice)
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    for bad in ["yesterday", "2026-12-07T01:00:00", 1765000000, ["2026-12-07T01:00:00Z"], "", future, "9" * 41]:
        # when a resume carries it
        await tab.send_json_to({"type": "resume", "last_seq": 0, "changed_since": bad})
        # then an error frame, and no catch-up and no replay
        (error,) = await frames(tab, 1)
        assert error["type"] == "error" and error["code"] == "bad_frame", bad
        assert "changed_since" in error["message"]
        assert await tab.receive_nothing(timeout=0.1)
    # and the socket is still open
    await tab.send_json_to({"type": "ping"})
    assert await tab.receive_json_from() == {"type": "pong"}
    await tab.disconnect()


@async_test
async def test_the_catch_up_goes_out_in_pages(alice, settings):
    # given five retracted rows and one updated row of alice's, and pages of two
    settings.WS_REPLAY_PAGE = 2
    producer = await adb(make_user)("crm", perms=["send_notification"])
    tab, hello = await connect(alice)
    await tab.disconnect()
    sends = [await adb(send)([alice], title=f"n{i}", actor=producer) for i in range(6)]
    for sent in sends[:5]:
        await adb(notification_retract)(send_id=sent.id, actor=producer)
    await adb(notification_update)(send_id=sends[5].id, actor=producer, title="edited")
    ids = [str(s.notification_ids[0]) for s in sends]
    # when she resumes from the last seq she had, 6, and her first hello's time
    tab, _ = await connect(alice)
    await tab.send_json_to({"type": "resume", "last_seq": 6, "changed_since": hello["server_time"]})
    # then the rows come oldest first, two per page, the update in its page, then one count
    got = await frames(tab, 6)
    assert got[:3] == [
        {"type": "notification_retracted", "ids": ids[0:2]},
        {"type": "notification_retracted", "ids": ids[2:4]},
        {"type": "notification_retracted", "ids": ids[4:5]},
    ]
    update = got[3]
    assert (update["type"], update["ids"]) == ("notification_updated", ids[5:])
    assert update["notification"]["title"] == "edited"
    assert got[4:] == [{"type": "unread_count", "count": 1}, {"type": "replay_done", "last_seq": 6, "count": 0}]
    assert await tab.receive_nothing(timeout=0.2)
    await tab.disconnect()


def test_one_page_of_the_catch_up_is_one_query(django_assert_num_queries):
    # given 30 rows of one user, half of them retracted and half updated by an actor, and one of another user
    producer = make_user("crm", perms=["send_notification"])
    user, other = make_user("una"), make_user("otto")
    since = timezone.now()
    sends = [send([user, other], title=f"n{i}", actor=producer) for i in range(30)]
    for sent in sends[::2]:
        notification_retract(send_id=sent.id, actor=producer)
    for sent in sends[1::2]:
        notification_update(send_id=sent.id, actor=producer, title="edited")
    # when one page of 50 is read and encoded
    with django_assert_num_queries(1):
        last, retracted, updated = changes_page(user, since, 0, 30, 50)
    # then it holds exactly this user's 30 rows
    assert last == 30
    assert retracted == [str(s.notification_ids[0]) for s in sends[::2]]
    assert len(updated) == 15 and all('"title":"edited"' in text for text in updated)
    assert not any(str(s.notification_ids[1]) in text for s in sends for text in updated)
