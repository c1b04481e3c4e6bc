"""`/ws/notifications/`: the WebSocket protocol of contract.md, translated to selectors and services.

Authentication and the origin check happen before this consumer exists (routing.py). Group names come only from the
authenticated user. Frames from the layer arrive pre-encoded (notifications/realtime/) and are forwarded as they
are. The consumer only translates frames <-> calls: what a socket has sent, replay, refill and its unread count live
in socket_cursor.SocketCursor, the flood limit in ratelimit.TokenBucket.
"""

import asyncio
import copy
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from channels.consumer import AsyncConsumer, get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from . import metrics, realtime, services
from .handshake import Credentials, credentials_valid, socket_states
from .ratelimit import TokenBucket
from .socket_cursor import (
    SocketCursor,
    changed_since_clean,
    changes_page,
    cursor_page,
    cursor_state,
    resume_cursor_valid,
    resume_refusal,
)

logger = logging.getLogger(__name__)


def in_db_thread(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """ORM work in the thread pool, not on the single thread-sensitive executor: a few hundred sockets connecting
    at once would otherwise queue their handshakes behind each other."""
    return database_sync_to_async(fn, thread_sensitive=False)


# 1009 is sent by the WebSocket engine itself when daphne runs with the Procfile's size limits (routing.py). An
# application may only close with 1000 or 3000-4999 (autobahn refuses the rest and the client would see 1011), so
# the consumer's own check, for servers started without those limits, closes with 4009 after an error frame.
CLOSE_TOO_BIG = 4009
CLOSE_RATE_LIMITED = 4429
CLOSE_SESSION_ENDED = 4401
CLOSE_RECONNECT = 1000  # lifetime cap reached: the client reconnects and resumes

# Open sockets per user in this process (WS_MAX_SOCKETS_PER_USER): one account cannot hold a process's sockets.
_open_by_user: Counter[int] = Counter()
MAX_IDS = 500


class FrameError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _ids_clean(value: Any) -> list[UUID]:
    if not isinstance(value, list) or not value or len(value) > MAX_IDS:
        raise FrameError("bad_ids", f"ids must be a list of 1 to {MAX_IDS} notification ids.")
    ids = []
    for item in value:
        try:
            if not isinstance(item, str) or len(item) > 36:
                raise ValueError(item)
            ids.append(UUID(item))
        except ValueError:
            raise FrameError("bad_ids", "ids must be notification ids (UUIDs).")
    return ids


class NotificationConsumer(AsyncConsumer):
    # Every attribute of a socket, set by websocket_connect (the rest keep these defaults until then).
    credentials: Credentials  # what the handshake authenticated (routing.py)
    session: str  # the session fingerprint, or TICKET_SOCKETS: which SESSION_ENDED messages close this socket
    group: str  # the user's group, from the authenticated user only
    bucket: TokenBucket  # the flood limit
    user: AbstractBaseUser  # set once the socket is accepted
    cursor: SocketCursor | None = None  # what this socket has sent, and its unread count (None until accepted)
    watch: "asyncio.Future[None] | None" = None  # the credentials watch (revalidation, lifetime cap)
    recheck: "asyncio.Future[None] | None" = None  # a delayed credentials check after a password change
    closing = False  # a close was sent: nothing else goes out
    joined = False  # the channel is in the user's group
    counted_open = False  # counted in _open_by_user and the open-sockets gauge

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch awaits aclose_old_connections() (a thread-pool hop) before every message. Handlers
        here touch the ORM only through database_sync_to_async, which closes old connections itself, so forwarding
        a frame stays on the event loop."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def _send_text(self, text: str) -> None:
        await self.send({"type": "websocket.send", "text": text})

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        await self._send_text(realtime.frame_encode(frame))

    async def _close(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.send({"type": "websocket.close", "code": code})

    # --- connection -------------------------------------------------------------------------------------------

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        credentials: Credentials = self.scope["ws_credentials"]
        if _open_by_user[credentials.user_id] >= settings.WS_MAX_SOCKETS_PER_USER:
            await self.send({"type": "websocket.close"})  # before accept: HTTP 403
            return
        self.credentials = credentials
        self.session = (
            realtime.session_fingerprint(credentials.session_key)
            if credentials.session_key
            else realtime.TICKET_SOCKETS
        )
        self.group = realtime.user_group(credentials.user_id)
        self.bucket = TokenBucket(rate=settings.WS_RATE_PER_SECOND, burst=float(settings.WS_RATE_BURST))
        # Join before reading the database: whatever commits after the read arrives live.
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.joined = True
        # The user and hello's numbers: one query shared with the handshakes that arrive at the same time.
        user = await socket_states.get(credentials)
        if user is None:
            self.joined = False
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.send({"type": "websocket.close"})  # before accept: HTTP 403
            return
        self.user = copy.copy(user)  # two sockets of one user in one batch got the same instance
        _open_by_user[credentials.user_id] += 1
        self.counted_open = True
        metrics.websocket_connected()
        await self.send({"type": "websocket.accept"})
        unread, last_seq = user.socket_unread, user.socket_last_seq
        self.cursor = SocketCursor(
            last_seq=last_seq,
            unread=unread,
            send=self._send_text,
            fetch=self._page_fetch,
            page_size=settings.WS_REPLAY_PAGE,
            closing=lambda: self.closing,
        )
        await self._send_frame(
            {
                "type": "hello",
                "unread_count": unread,
                "last_seq": last_seq,
                "server_time": timezone.now().isoformat(),
                # an addition: the same count with each group (category + group_key) once, as the bell shows it
                "unread_groups": user.socket_unread_groups,
            }
        )
        self.watch = asyncio.ensure_future(self._credentials_watch())
        realtime.embedded_watch_start()

    async def _page_fetch(self, after_seq: int, limit: int, replay: bool) -> list[tuple[int, str]]:
        return await in_db_thread(cursor_page)(self.user, after_seq, limit, replay)

    async def _credentials_watch(self) -> None:
        """A socket lives while its credentials do: re-checked every WS_REVALIDATE_SECONDS (jittered, so sockets
        opened together do not all ask at once), and closed for a reconnect after WS_MAX_LIFETIME_SECONDS."""
        ends = time.monotonic() + settings.WS_MAX_LIFETIME_SECONDS
        while not self.closing:
            interval = settings.WS_REVALIDATE_SECONDS * random.uniform(0.8, 1.2)
            await asyncio.sleep(min(interval, max(0.0, ends - time.monotonic())))
            if time.monotonic() >= ends:
                await self._close(CLOSE_RECONNECT)
                return
            await self._credentials_check()

    async def _credentials_check(self, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)  # off the message loop: frames keep flowing meanwhile
        try:
            valid = await in_db_thread(credentials_valid)(self.credentials)
        except Exception:  # the database may be away for a moment: the next check decides
            logger.warning("socket credentials check failed for user %s", self.credentials.user_id)
            return
        if not valid:
            await self._close(CLOSE_SESSION_ENDED)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        for task in (self.watch, self.recheck):
            if task is not None:
                task.cancel()
        if self.counted_open:
            self.counted_open = False
            metrics.websocket_disconnected()
            _open_by_user[self.credentials.user_id] -= 1
            if _open_by_user[self.credentials.user_id] <= 0:
                del _open_by_user[self.credentials.user_id]
        if self.joined:
            self.joined = False
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:  # the layer may be down; its subscription dies with the channel anyway
                logger.warning("group_discard failed for a closing socket")
        raise StopConsumer()

    # --- client -> server ---------------------------------------------------------------------------------------

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        if not self.bucket.take():
            await self._send_frame({"type": "error", "code": "rate_limited", "message": "Too many frames."})
            await self._close(CLOSE_RATE_LIMITED)
            return
        text = message.get("text")
        raw = text.encode() if text is not None else (message.get("bytes") or b"")
        if len(raw) > settings.WS_MAX_FRAME_BYTES:
            await self._send_frame(
                {
                    "type": "error",
                    "code": "frame_too_big",
                    "message": f"Frames are limited to {settings.WS_MAX_FRAME_BYTES} bytes.",
                }
            )
            await self._close(CLOSE_TOO_BIG)
            return
        try:
            if text is None:
                raise FrameError("bad_frame", "Frames must be text (JSON).")
            try:
                frame = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise FrameError("bad_json", "Frames must be one JSON object.")
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise FrameError("bad_frame", "Frames must be a JSON object with a string 'type'.")
            handler = self.client_handlers.get(frame["type"])
            if handler is None:
                raise FrameError("unknown_type", "Unknown frame type.")
            await handler(self, frame)
        except FrameError as exc:
            await self._send_frame({"type": "error", "code": exc.code, "message": exc.message})
        except Exception:
            logger.exception("websocket frame failed")
            await self._send_frame({"type": "error", "code": "unavailable", "message": "Try again later."})

    async def client_ping(self, frame: dict[str, Any]) -> None:
        await self._send_frame({"type": "pong"})

    async def client_resume(self, frame: dict[str, Any]) -> None:
        assert self.cursor is not None  # client frames arrive only on accepted sockets
        after = frame.get("last_seq")
        if not resume_cursor_valid(after):
            await self._send_frame({"type": "resync_required", "reason": "invalid_cursor"})
            return
        since = self._changed_since(frame)
        last_seq, oldest = await in_db_thread(cursor_state)(self.user)
        reason = resume_refusal(after, last_seq, oldest)
        if reason is not None:
            await self._send_frame({"type": "resync_required", "reason": reason})
            return
        if since is not None:
            await self._catch_up(since, after)
        count = await self.cursor.replay(after)
        await self._send_frame({"type": "replay_done", "last_seq": self.cursor.cursor, "count": count})
        await self.cursor.count_new()

    def _changed_since(self, frame: dict[str, Any]) -> datetime | None:
        if frame.get("changed_since") is None:
            return None
        try:
            return changed_since_clean(
                frame["changed_since"],
                now=timezone.now(),
                retention=timedelta(days=settings.NOTIFICATIONS_RETENTION_DAYS),
            )
        except ValueError as exc:
            raise FrameError("bad_frame", str(exc))

    async def _catch_up(self, since: datetime, up_to_seq: int) -> None:
        """What changed while the client was away among the rows it holds (seq <= its cursor): retractions and
        producer updates after `since`, in pages of WS_REPLAY_PAGE rows, one query each.

        Sent before the replay, inside this one handler: the socket joined the user's group before hello, and live
        frames wait in the layer's queue until this handler returns, so a change committed after this read still
        arrives (live, after it), and replay_done stays the one "caught up" mark. Replayed rows (seq > cursor) carry
        their current content already, and a retracted one is not replayed at all."""
        assert self.cursor is not None
        after, retracted_any = 0, False
        page = settings.WS_REPLAY_PAGE
        while not self.closing:
            last, retracted, updated = await in_db_thread(changes_page)(self.user, since, after, up_to_seq, page)
            if retracted:
                retracted_any = True
                await self._send_text(realtime.retracted_frame(retracted))
            for text in updated:
                await self._send_text(text)
            if len(retracted) + len(updated) < page:
                break
            after = last
        if retracted_any and not self.closing:
            # The socket's count (hello's, counted after any retraction before it): what to show now, row for row. One
            # that committed after hello also has its live unread_count waiting in the queue, which follows this.
            await self._send_text(realtime.unread_count_frame(self.cursor.unread))

    async def client_mark_read(self, frame: dict[str, Any]) -> None:
        ids = _ids_clean(frame.get("ids"))
        await in_db_thread(services.notification_update_state)(user=self.user, ids=ids, read=True)

    async def client_mark_unread(self, frame: dict[str, Any]) -> None:
        ids = _ids_clean(frame.get("ids"))
        await in_db_thread(services.notification_update_state)(user=self.user, ids=ids, read=False)

    async def client_mark_all_read(self, frame: dict[str, Any]) -> None:
        up_to = frame.get("up_to_seq")
        if up_to is not None and (not isinstance(up_to, int) or isinstance(up_to, bool) or up_to < 0):
            raise FrameError("bad_request", "up_to_seq must be a non-negative integer.")
        await in_db_thread(services.notification_mark_all_read)(user=self.user, up_to_seq=up_to)

    client_handlers: dict[str, Callable[["NotificationConsumer", dict[str, Any]], Awaitable[None]]] = {
        "ping": client_ping,
        "resume": client_resume,
        "mark_read": client_mark_read,
        "mark_unread": client_mark_unread,
        "mark_all_read": client_mark_all_read,
    }

    # --- layer -> client (notifications/realtime/) ---------------------------------------------------------------

    async def notification_created(self, message: dict[str, Any]) -> None:
        """The hot path: integer comparisons and one send, no thread hop (SocketCursor.live)."""
        if not self.closing and self.cursor is not None:
            await self.cursor.live(message["seq"], message["text"], counted=not message.get("uncounted"))

    async def state_changed(self, message: dict[str, Any]) -> None:
        if not self.closing and self.cursor is not None:
            self.cursor.state_changed(message["unread"])
            for text in message["texts"]:
                await self._send_text(text)

    async def content_changed(self, message: dict[str, Any]) -> None:
        """A producer updated a send this user has: the new content, in place (no count changes)."""
        if not self.closing and self.cursor is not None:
            await self._send_text(message["text"])

    async def session_ended(self, message: dict[str, Any]) -> None:
        if message["session"] is None or message["session"] == self.session:
            await self._close(CLOSE_SESSION_ENDED)

    async def credentials_changed(self, message: dict[str, Any]) -> None:
        """A password changed. The session that changed it gets its new hash a moment after the user row is saved
        (update_session_auth_hash), so the check waits that moment; sessions still on the old hash close."""
        if not self.closing:
            self.recheck = asyncio.ensure_future(self._credentials_check(delay=settings.WS_CREDENTIALS_RECHECK_DELAY))

    async def layer_recovered(self, message: dict[str, Any]) -> None:
        """Frames published while the layer was disconnected are gone: refill from the database."""
        if not self.closing and self.cursor is not None:
            await self.cursor.refill()
