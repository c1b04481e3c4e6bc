"""The one module that knows group names and frame shapes, and the only caller of the channel layer.

Everything is published after commit (a frame about a row that was rolled back must never exist). Frames are JSON
text encoded once here (orjson), carried through the layer as is, and forwarded by the consumer without re-encoding.

A frame may still be lost (channel layers are at-most-once; Redis may restart): the database is the truth, and
`seq` is per user and gap-free, so a consumer that sees a gap, or is told its layer reconnected, refills from the
database (see consumers.py). Clients resume by seq after a reconnect.
"""

import asyncio
import hashlib
import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _consistent_hash, _wrap_close, decode_hosts
from django.conf import settings
from django.db import transaction

from .models import Content, Notification
from .payloads import content_payload, notification_payload

logger = logging.getLogger(__name__)

Message = dict[str, Any]

# Layer message types (dotted, handled by NotificationConsumer.<type with underscores>).
NOTIFICATION_CREATED = "notification.created"
STATE_CHANGED = "state.changed"
SESSION_ENDED = "session.ended"
CREDENTIALS_CHANGED = "credentials.changed"
# The `session` of sockets opened with a ticket (token clients), in SESSION_ENDED messages.
TICKET_SOCKETS = "tickets"
LAYER_RECOVERED = "layer.recovered"


def user_group(user_id: int) -> str:
    """Group of every socket of one user. Derived only from the authenticated user id."""
    return f"user.{user_id}"


def frame_encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def notification_frame(payload: dict[str, Any], *, replay: bool) -> str:
    return frame_encode({"type": "notification", "notification": payload, "replay": replay})


def session_fingerprint(session_key: str | None) -> str:
    """Sockets are matched to a session without sending the session key itself through Redis."""
    return hashlib.sha256((session_key or "").encode()).hexdigest()[:32]


# --- Publishing ---------------------------------------------------------------------------------------------------

_redis_clients: dict[str, redis.Redis] = {}
_redis_lock = threading.Lock()


def _redis_client(address: str) -> redis.Redis:
    """One thread-safe client (and pool) per Redis host for the publishing side, sized like the layer's."""
    client = _redis_clients.get(address)
    if client is None:
        with _redis_lock:
            client = _redis_clients.get(address)
            if client is None:
                pool = redis.ConnectionPool.from_url(
                    address, max_connections=settings.REDIS_MAX_CONNECTIONS, health_check_interval=30
                )
                client = _redis_clients[address] = redis.Redis(connection_pool=pool)
    return client


def _pubsub_publish(layer: RedisPubSubChannelLayer, messages: Sequence[tuple[str, Message]]) -> None:
    """PUBLISH every message in one pipelined round trip per Redis shard, the way the layer's group_send would
    name and serialize them (prefix + "__group__" + group, msgpack)."""
    config: Any = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    hosts = [h["address"] if isinstance(h, dict) else h for h in config["hosts"]]
    prefix = config.get("prefix", "asgi")
    per_shard: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
    for group, message in messages:
        channel = f"{prefix}__group__{group}"
        per_shard[_consistent_hash(channel, len(hosts))].append((channel, layer.serialize(message)))
    for index, items in per_shard.items():
        _publish_packed(_redis_client(hosts[index]), items)


def _publish_packed(client: redis.Redis, items: Sequence[tuple[str, bytes]]) -> None:
    """PUBLISH many messages in one write, then read every reply: a pipeline without redis-py's per-command
    Python overhead (which cost more than the network for a fan-out to thousands of sockets)."""
    parts: list[bytes] = []
    for channel, data in items:
        name = channel.encode()
        parts.append(b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n" % (len(name), name, len(data)))
        parts.append(data)
        parts.append(b"\r\n")
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command([b"".join(parts)])
        for _ in items:
            connection.read_response()
    except BaseException:
        connection.disconnect()  # a half-read reply stream must never be reused
        raise
    finally:
        pool.release(connection)


async def _group_send_all(layer: Any, messages: Sequence[tuple[str, Message]]) -> None:
    for group, message in messages:
        await layer.group_send(group, message)


def publish(messages: Sequence[tuple[str, Message]]) -> None:
    """Send now (callers use the *_on_commit functions). A failure is logged, never raised: the rows are committed
    and a lost frame is recovered by seq (see the module docstring)."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return
    try:
        if isinstance(layer, RedisPubSubChannelLayer):
            _pubsub_publish(layer, messages)
        else:
            async_to_sync(_group_send_all)(layer, messages)
    except Exception:
        logger.exception("realtime publish failed for %d messages", len(messages))


def unread_count_frame(count: int) -> str:
    return f'{{"type":"unread_count","count":{int(count)}}}'


def notifications_publish_on_commit(sends: Sequence[tuple[Content, Sequence[Notification]]]) -> None:
    """One `notification` frame per recipient, each send's shared part serialized once, published after commit
    in one pipelined round trip for every send of the call (a bulk send is one publish, not one per item).

    No unread count travels with it: each socket keeps its user's count (from `hello`, +1 per new notification,
    reset by every state change, which carries the counted value) and sends `unread_count` itself, so a send to
    many users does not count anyone's unread rows.
    """
    messages: list[tuple[str, Message]] = []
    for content, notifications in sends:
        shared = content_payload(content, content.category)
        for n in notifications:
            text = notification_frame(notification_payload(n, shared), replay=False)
            messages.append((user_group(n.recipient_id), {"type": NOTIFICATION_CREATED, "seq": n.seq, "text": text}))
    if messages:
        transaction.on_commit(lambda: _notifications_publish(messages))


def _notifications_publish(messages: Sequence[tuple[str, Message]]) -> None:
    _embedded_note_published(messages)
    publish(messages)


def state_publish_on_commit(
    *,
    user_id: int,
    ids: Sequence[UUID],
    unread_count: int,
    read: bool | None = None,
    archived: bool | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """notification_updated (only the changed keys; `extra`: more of them, e.g. saved) then unread_count, to every
    socket of the user."""
    frame: dict[str, Any] = {"type": "notification_updated", "ids": [str(i) for i in ids]}
    if read is not None:
        frame["read"] = read
    if archived is not None:
        frame["archived"] = archived
    frame.update(extra or {})
    texts = [frame_encode(frame), unread_count_frame(unread_count)]
    messages = [(user_group(user_id), {"type": STATE_CHANGED, "texts": texts, "unread": unread_count})]
    transaction.on_commit(lambda: publish(messages))


def sessions_close_on_commit(*, user_id: int, session_key: str | None = None) -> None:
    """Close the user's sockets with 4401: those of one session (logout), or all of them (deactivation)."""
    message: Message = {"type": SESSION_ENDED, "session": session_fingerprint(session_key) if session_key else None}
    messages = [(user_group(user_id), message)]
    transaction.on_commit(lambda: publish(messages))


def ticket_sockets_close_on_commit(*, user_id: int) -> None:
    """Close the user's sockets opened with tickets (its API token was revoked); session sockets stay."""
    messages = [(user_group(user_id), {"type": SESSION_ENDED, "session": TICKET_SOCKETS})]
    transaction.on_commit(lambda: publish(messages))


def credentials_changed_on_commit(*, user_id: int) -> None:
    """Every socket of the user re-checks its credentials (a password change invalidates other sessions)."""
    messages = [(user_group(user_id), {"type": CREDENTIALS_CHANGED})]
    transaction.on_commit(lambda: publish(messages))


# --- Integration points: logout, deactivation, password change, token revocation ---------------------------------


def on_user_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Django's user_logged_out: the session is about to be flushed; its sockets must not outlive it."""
    if user is None:
        return
    session = getattr(request, "session", None)
    sessions_close_on_commit(user_id=user.pk, session_key=getattr(session, "session_key", None))


def on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A user saved inactive (admin, shell, a service) loses every open socket; inactive users cannot open new
    ones (handshake.py). A changed password makes every socket re-check its session."""
    if created:
        return
    if not instance.is_active:
        sessions_close_on_commit(user_id=instance.pk)
    elif getattr(instance, "_password", None) is not None:
        # set_password() keeps the raw password until save() finished: the password changed. Sessions logged in
        # with the old one no longer verify; their sockets find out and close with 4401.
        credentials_changed_on_commit(user_id=instance.pk)


def on_token_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A revoked API token: sockets opened with tickets must not outlive it."""
    ticket_sockets_close_on_commit(user_id=instance.user_id)


# --- Redis pub/sub layer that tells its consumers when it reconnected ----------------------------------------------


class _RecoveringShardConnection(RedisSingleShardConnection):
    """channels-redis' shard connection, plus: after its subscriber connection failed and works again (redis-py
    re-subscribes on reconnect), every local channel gets a `layer.recovered` message, because frames published
    meanwhile are gone. The receive loop is the layer's own, with that one addition."""

    async def _do_receiving(self) -> None:
        failed = False
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    if failed:
                        failed = False
                        logger.warning("channel layer subscriber reconnected to %s", self.host.get("address"))
                        self._recovered_notify()
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, TimeoutError, GeneratorExit):
                raise
            except Exception as exc:
                if not failed:
                    logger.warning("channel layer subscriber lost its Redis connection: %s", exc)
                failed = True
                await asyncio.sleep(0.5)

    def _recovered_notify(self) -> None:
        data = self.channel_layer.channel_layer.serialize({"type": LAYER_RECOVERED})
        for queue in self.channel_layer.channels.values():
            queue.put_nowait(data)


class _RecoveringLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(hosts, *args, **kwargs)
        self._shards = [_RecoveringShardConnection(host, self) for host in decode_hosts(hosts)]


class RecoveringPubSubChannelLayer(RedisPubSubChannelLayer):
    """The production channel layer: Redis pub/sub (the fast channels-redis layer) with reconnect notification."""

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _RecoveringLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer


# --- Embedded mode: notifications written by other processes ------------------------------------------------------

# The in-memory layer reaches only this process. `manage.py notify` (or a worker) writes rows from another process;
# one watcher per web process notices them (one indexed query per tick, whatever the number of sockets) and nudges
# the recipients' sockets, which refill from the database. Rows this process published itself are skipped.
_published_high: dict[int, int] = {}
_watch_task: asyncio.Task[None] | None = None
WATCH_INTERVAL = 0.5


def _embedded_note_published(messages: Sequence[tuple[str, Message]]) -> None:
    if settings.REDIS_URL:
        return
    for group, message in messages:
        user_id = int(group.rsplit(".", 1)[1])
        if message["seq"] > _published_high.get(user_id, 0):
            _published_high[user_id] = message["seq"]


def embedded_watch_start() -> None:
    """Start the watcher once per process, from the event loop (the consumer calls it on connect)."""
    global _watch_task
    layer = get_channel_layer()
    if settings.REDIS_URL or isinstance(layer, RedisPubSubChannelLayer):
        return
    if _watch_task is None or _watch_task.done():
        _watch_task = asyncio.get_running_loop().create_task(_embedded_watch(layer))


async def _embedded_watch(layer: Any) -> None:
    from channels.db import database_sync_to_async

    from . import selectors

    last_id = await database_sync_to_async(selectors.notification_max_id)()
    while True:
        await asyncio.sleep(WATCH_INTERVAL)
        try:
            last_id, rows = await database_sync_to_async(selectors.notification_seqs_after_id)(after_id=last_id)
        except Exception:
            logger.exception("embedded realtime watcher: query failed")
            continue
        foreign = {user_id for user_id, seq in rows if seq > _published_high.get(user_id, 0)}
        for user_id in foreign:
            await layer.group_send(user_group(user_id), {"type": LAYER_RECOVERED})
