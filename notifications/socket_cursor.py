"""One socket's cursor: which rows it has sent, replay and refill from the database, and its unread count.

No gap between replay and live: the socket joins the user's group first, then reads the database. Layer messages
are dispatched one at a time, so live frames that arrive during a replay wait in the layer's queue and are checked
against the cursor afterwards. `seq` is per user and gap-free, so a live frame with a seq beyond cursor + 1 reveals
lost frames, which are refilled from the database (as is everything after a layer reconnect).

Plain Python on two injected coroutines (send a text frame, read a page), so it is tested without a socket; the
consumer gives it `send_text` and `cursor_page` in the database thread.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeGuard

from django.contrib.auth.models import AbstractBaseUser

from . import realtime, selectors
from .payloads import notification_payload

Page = list[tuple[int, str]]  # (seq, encoded notification frame), oldest first
PageFetch = Callable[[int, int, bool], Awaitable[Page]]  # (after_seq, limit, replay) -> page
Send = Callable[[str], Awaitable[None]]


def cursor_page(user: AbstractBaseUser, after_seq: int, limit: int, replay: bool) -> Page:
    """(seq, encoded frame) of one page after a seq, encoded in the worker thread, not on the event loop. A replay
    (the client resumed) and a refill (lost live frames) differ only in the frame's `replay` flag."""
    return [
        (n.seq, realtime.notification_frame(notification_payload(n), replay=replay))
        for n in selectors.notification_replay(user=user, after_seq=after_seq, limit=limit)
    ]


def cursor_state(user: AbstractBaseUser) -> tuple[int, int | None]:
    """The user's newest seq and oldest retained seq: what a resume is checked against."""
    return selectors.notification_last_seq(user=user), selectors.notification_oldest_seq(user=user)


def resume_cursor_valid(after: object) -> TypeGuard[int]:
    """A `resume` cursor the server can look up at all (checked before the database is asked)."""
    return isinstance(after, int) and not isinstance(after, bool) and after >= 0


def resume_refusal(after: int, last_seq: int, oldest: int | None) -> str | None:
    """Why a `resume` from a valid cursor cannot be served (the `resync_required` reason), or None when it can:
    the cursor is ahead of the user's newest row, or rows after it are no longer retained."""
    if after > last_seq:
        return "cursor_ahead"
    if after < last_seq and (oldest is None or after + 1 < oldest):
        return "cursor_expired"
    return None


# A `changed_since` this far ahead of the server's clock is still taken (servers' clocks differ a little); further
# ahead it is no time a server ever sent.
CHANGED_SINCE_MARGIN = timedelta(seconds=30)
CHANGED_SINCE_SKEW = timedelta(minutes=1)


def changed_since_clean(value: object, *, now: datetime, retention: timedelta) -> datetime:
    """A resume's `changed_since`: ISO 8601 with a zone, not in the future. One older than retention is clamped to
    the retention horizon, which loses nothing: a row still kept was created inside the window, and its send can
    only have changed after that. ValueError (the message is the client's) otherwise."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("changed_since must be an ISO 8601 date-time string with a zone.")
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("changed_since must be an ISO 8601 date-time string with a zone.")
    if since.tzinfo is None or since.utcoffset() is None:
        raise ValueError("changed_since needs a zone (e.g. Z or +00:00).")
    if since > now + CHANGED_SINCE_SKEW:
        raise ValueError("changed_since is in the future: send the server_time of a hello.")
    # updated_at / retracted_at are stamped inside the producer's transaction, before its commit: a change stamped
    # just before the client's last hello may have committed just after it. Looking a little further back costs a
    # frame the client already applied (updating or removing an item is idempotent), never a missed one.
    return max(since - CHANGED_SINCE_MARGIN, now - retention)


ChangesPage = tuple[int, list[str], list[str]]  # (seq of the page's last row or 0, retracted ids, updated frames)


def changes_page(user: AbstractBaseUser, since: datetime, after_seq: int, up_to_seq: int, limit: int) -> ChangesPage:
    """One page of a resume's catch-up, in one query, encoded in the worker thread: the ids of the rows whose send
    was retracted after `since`, and one `notification_updated` (whole new content) per row whose send was updated
    after it and not retracted."""
    rows = selectors.notification_changed_since(
        user=user, since=since, after_seq=after_seq, up_to_seq=up_to_seq, limit=limit
    )
    retracted = [str(n.uuid) for n in rows if n.content.retracted_at is not None]
    updated = [realtime.content_updated_frame(notification_payload(n)) for n in rows if n.content.retracted_at is None]
    return (rows[-1].seq if rows else 0), retracted, updated


class SocketCursor:
    """Every row in (base, cursor] has been sent on this socket; rows at or below `base` are the client's own
    business (REST or a resume). The unread count is hello's, plus one per row newer than the newest counted
    (seqs are gap-free and every new row is unread), replaced by the counted value each state change carries."""

    def __init__(
        self,
        *,
        last_seq: int,
        unread: int,
        send: Send,
        fetch: PageFetch,
        page_size: int,
        closing: Callable[[], bool],
    ) -> None:
        self.base = last_seq
        self.cursor = last_seq
        self.unread = unread
        self.counted = last_seq
        self._send = send
        self._fetch = fetch
        self._page_size = page_size
        self._closing = closing

    async def replay(self, after: int) -> int:
        """The client resumed from `after` (checked with resume_refusal): send every row after it, oldest first.
        Returns how many were sent."""
        self.base = self.cursor = after
        return await self._from_database(replay=True)

    async def live(self, seq: int, text: str, *, counted: bool = True) -> None:
        """A live frame from the layer. The hot path: integer comparisons and one send, no thread hop.
        `counted=False`: a row written read (a muted group's), which the unread count must not gain."""
        before = self.counted
        if seq <= self.base:
            # Committed while this socket was connecting: new to the client unless it resumes past it.
            await self._send(text)
        elif seq == self.cursor + 1:
            self.cursor = seq
            await self._send(text)
        elif seq > self.cursor:
            await self._from_database(replay=False)  # sends the missing rows, and this one if it is committed
            if seq > self.cursor:
                self.cursor = seq
                await self._send(text)
        # else: already sent on this socket (by a replay or a refill)
        if not counted and before < seq <= self.cursor:
            self.unread -= 1  # count_new counts every seq up to the cursor: this one is not unread
        await self.count_new()

    async def refill(self) -> None:
        """Frames may have been lost (the layer reconnected): send whatever the database has after the cursor."""
        await self._from_database(replay=False)
        await self.count_new()

    async def count_new(self) -> None:
        """unread_count after new rows went out (contract: after any change to the count)."""
        if self.cursor > self.counted:
            self.unread += self.cursor - self.counted
            self.counted = self.cursor
            await self._send(realtime.unread_count_frame(self.unread))

    def state_changed(self, unread: int) -> None:
        """A state change carries the unread count the service counted after it: the authoritative value."""
        self.unread = unread
        self.counted = max(self.counted, self.cursor)

    async def _from_database(self, *, replay: bool) -> int:
        """Send every row after the cursor, oldest first, in pages; advance the cursor."""
        count = 0
        while True:
            rows = await self._fetch(self.cursor, self._page_size, replay)
            for seq, text in rows:
                await self._send(text)
                self.cursor = seq
            count += len(rows)
            if len(rows) < self._page_size or self._closing():
                return count
