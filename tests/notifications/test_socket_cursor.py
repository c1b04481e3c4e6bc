"""A socket's cursor as a plain object: live frames, gaps, replay and refill pages, its unread count.

No communicator: the database is a list of committed seqs, the socket a list of sent texts. The protocol through a
real socket is tested in tests/notifications/consumers/.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from notifications.socket_cursor import (
    SocketCursor,
    changed_since_clean,
    cursor_page,
    resume_cursor_valid,
    resume_refusal,
)
from tests.factories import make_user, send


class Socket:
    """The committed rows (seqs) and what the cursor sent. Pages are tagged R (replay) or L (refill) + seq."""

    def __init__(self, committed: list[int], *, page_size: int = 100) -> None:
        self.committed = committed
        self.sent: list[str] = []
        self.fetches: list[tuple[int, int, bool]] = []
        self.closing = False
        self.cursor = SocketCursor(
            last_seq=max(committed, default=0),
            unread=0,
            send=self.send,
            fetch=self.fetch,
            page_size=page_size,
            closing=lambda: self.closing,
        )

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def fetch(self, after_seq: int, limit: int, replay: bool) -> list[tuple[int, str]]:
        self.fetches.append((after_seq, limit, replay))
        return [(s, f"{'R' if replay else 'L'}{s}") for s in self.committed if s > after_seq][:limit]

    def commit(self, seq: int) -> str:
        self.committed.append(seq)
        return f"live{seq}"


def run(coro):
    return asyncio.run(coro)


def unread(count: int) -> str:
    return f'{{"type":"unread_count","count":{count}}}'


def test_live_frames_in_order_are_forwarded_and_counted_without_reading_the_database():
    socket = Socket([1, 2])
    run(socket.cursor.live(3, socket.commit(3)))
    run(socket.cursor.live(4, socket.commit(4)))
    assert socket.sent == ["live3", unread(1), "live4", unread(2)]
    assert (socket.cursor.base, socket.cursor.cursor, socket.cursor.unread) == (2, 4, 2)
    assert socket.fetches == []


def test_a_frame_committed_while_connecting_is_forwarded_but_not_counted_again():
    socket = Socket([1, 2])  # hello already counted seq 2
    run(socket.cursor.live(2, "live2"))
    assert socket.sent == ["live2"]
    assert (socket.cursor.cursor, socket.cursor.unread) == (2, 0)


def test_a_gap_is_refilled_from_the_database_before_the_live_frame():
    socket = Socket([1])
    socket.commit(2)  # its live frame was lost
    run(socket.cursor.live(3, socket.commit(3)))
    # the refill page already holds seq 3: the live frame is not sent a second time
    assert socket.sent == ["L2", "L3", unread(2)]
    assert socket.fetches == [(1, 100, False)]
    assert socket.cursor.cursor == 3


def test_a_live_frame_not_yet_visible_to_the_refill_is_sent_after_it():
    socket = Socket([1])
    socket.commit(2)
    run(socket.cursor.live(3, "live3"))  # seq 3 not committed as far as the refill's read goes
    assert socket.sent == ["L2", "live3", unread(2)]
    assert socket.cursor.cursor == 3


def test_replay_sends_every_row_after_the_cursor_in_pages_and_later_live_duplicates_are_dropped():
    socket = Socket([1, 2, 3, 4, 5], page_size=2)
    count = run(socket.cursor.replay(1))
    assert count == 4
    assert socket.sent == ["R2", "R3", "R4", "R5"]
    assert socket.fetches == [(1, 2, True), (3, 2, True), (5, 2, True)]
    assert (socket.cursor.base, socket.cursor.cursor) == (1, 5)
    run(socket.cursor.live(4, "live4"))  # its live frame arrives late: already sent by the replay
    assert socket.sent == ["R2", "R3", "R4", "R5"]


def test_paging_stops_after_the_current_page_once_the_socket_is_closing():
    socket = Socket([1, 2, 3, 4, 5], page_size=2)
    socket.closing = True
    assert run(socket.cursor.replay(0)) == 2
    assert socket.sent == ["R1", "R2"]


def test_refill_after_a_layer_reconnect_sends_what_was_missed_and_the_new_count():
    socket = Socket([1])
    socket.commit(2)
    socket.commit(3)
    run(socket.cursor.refill())
    assert socket.sent == ["L2", "L3", unread(2)]
    run(socket.cursor.refill())  # nothing new: no frame, not even a count
    assert socket.sent == ["L2", "L3", unread(2)]


def test_a_state_change_replaces_the_count_and_later_rows_count_from_it():
    socket = Socket([1])
    run(socket.cursor.live(2, socket.commit(2)))
    socket.cursor.state_changed(0)  # marked all read
    run(socket.cursor.count_new())
    assert socket.sent == ["live2", unread(1)]  # no count frame from the cursor for rows already counted
    run(socket.cursor.live(3, socket.commit(3)))
    assert socket.sent[-2:] == ["live3", unread(1)]


@pytest.mark.parametrize("after", [None, "3", -1, True, 1.5])
def test_a_cursor_that_is_not_a_non_negative_integer_is_invalid(after):
    assert resume_cursor_valid(after) is False


def test_resume_refusals():
    assert resume_cursor_valid(0) is True
    assert resume_refusal(6, 5, 1) == "cursor_ahead"
    assert resume_refusal(1, 5, 3) == "cursor_expired"
    assert resume_refusal(1, 5, None) == "cursor_expired"
    assert resume_refusal(2, 5, 3) is None
    assert resume_refusal(5, 5, None) is None  # at the head: nothing to replay, nothing expired


@pytest.mark.django_db
def test_a_replay_page_and_a_refill_page_differ_only_in_the_replay_flag():
    alice = make_user("alice")
    for i in range(3):
        send([alice], title=f"n{i}")
    replay = cursor_page(alice, 1, 10, True)
    refill = cursor_page(alice, 1, 10, False)
    assert [seq for seq, _ in replay] == [seq for seq, _ in refill] == [2, 3]
    for (_, a), (_, b) in zip(replay, refill, strict=True):
        frame_a, frame_b = orjson.loads(a), orjson.loads(b)
        assert (frame_a.pop("replay"), frame_b.pop("replay")) == (True, False)
        assert frame_a == frame_b
        assert frame_a["type"] == "notification"
    assert [orjson.loads(t)["notification"]["title"] for _, t in cursor_page(alice, 0, 2, True)] == ["n0", "n1"]


def test_changed_since_is_parsed_with_its_zone_clamped_to_retention_and_refused_in_the_future():
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    retention = timedelta(days=90)
    # a time with an offset is that instant, looked at from a margin earlier (a change stamped before the client's
    # hello may have committed after it); one older than retention is the retention horizon
    assert changed_since_clean("2026-12-07T13:30:00+02:00", now=now, retention=retention) == datetime(
        2026, 12, 7, 11, 29, 30, tzinfo=UTC
    )
    assert changed_since_clean("2001-01-01T00:00:00Z", now=now, retention=retention) == now - retention
    # up to a minute of clock difference is taken; more, no zone, or not a date-time is refused
    assert changed_since_clean("2026-12-07T12:00:59Z", now=now, retention=retention) == now + timedelta(seconds=29)
    for bad in ["2026-12-07T12:01:01Z", "2026-12-07T12:00:00", "soon", "", None, 0]:
        with pytest.raises(ValueError):
            changed_since_clean(bad, now=now, retention=retention)
