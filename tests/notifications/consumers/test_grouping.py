"""Grouping over the socket: hello counts each group once beside the rows, and a read of a group tells every tab
which rows changed and the counts after it."""

import pytest

from notifications.selectors import user_socket_state
from notifications.services import notification_group_mark_read, notification_mark_read
from tests.factories import make_user, send
from tests.notifications.consumers.conftest import adb, connect, frames
from tests.notifications.realtime_helpers import async_test

pytestmark = pytest.mark.django_db(transaction=True)


def _inbox(user, actor):
    """Three comments on one post, one in another category with the same key, one without a key, one read."""
    ids = [send([user], title=f"c{i}", group_key="post:42", actor=actor).notification_ids[0] for i in range(3)]
    send([user], category="mention", title="m", group_key="post:42")
    send([user], title="solo")
    read = send([user], title="read one", group_key="post:42").notification_ids[0]
    notification_mark_read(user=user, ids=[read])
    return ids


@async_test
async def test_hello_counts_rows_and_each_group_once(alice):
    bob = await adb(make_user)("bob")
    await adb(_inbox)(alice, bob)
    tab, hello = await connect(alice)
    assert (hello["unread_count"], hello["unread_groups"], hello["last_seq"]) == (5, 3, 6)
    await tab.disconnect()


@async_test
async def test_reading_a_group_sends_every_tab_the_members_and_both_counts(alice):
    bob = await adb(make_user)("bob")
    ids = await adb(_inbox)(alice, bob)
    tab, _ = await connect(alice)
    await adb(notification_group_mark_read)(user=alice, id=ids[-1])
    updated, count = await frames(tab, 2)
    assert updated["type"] == "notification_updated" and updated["read"] is True
    assert sorted(updated["ids"]) == sorted(str(i) for i in ids)
    assert count == {"type": "unread_count", "count": 2, "groups": 2}
    await tab.disconnect()


def test_the_socket_state_query_counts_groups_in_the_same_statement(alice, bob):
    _inbox(alice, bob)
    state = user_socket_state(user_id=alice.pk)
    assert (state.socket_unread, state.socket_unread_groups, state.socket_last_seq) == (5, 3, 6)
    assert user_socket_state(user_id=bob.pk).socket_unread_groups == 0
