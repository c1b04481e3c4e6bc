"""Publishing after commit: the only caller of the channel layer's sending side.

Everything is published after commit (a frame about a row that was rolled back must never exist). A frame may still
be lost (channel layers are at-most-once; Redis may restart): the database is the truth, and `seq` is per user and
gap-free, so a consumer that sees a gap, or is told its layer reconnected, refills from the database (see
consumers.py). Clients resume by seq after a reconnect.

Written against channels_redis 4.3.0 (requirements.txt). On the Redis pub/sub layer, `publish` bypasses the layer's
group_send and PUBLISHes itself, so it relies on channels_redis internals: `channels_redis.utils._consistent_hash`
to pick the shard, the group channel name `<prefix>__group__<group>`, and `layer.serialize` for the message bytes
the subscribers deserialize. tests/notifications/test_realtime_channels_redis.py fails if an upgrade changes them.
"""

import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash
from django.conf import settings
from django.db import transaction

from ..models import Content
from ..payloads import content_payload
from .embedded import embedded_note_published
from .frames import (
    CONTENT_CHANGED,
    CREDENTIALS_CHANGED,
    NOTIFICATION_CREATED,
    SESSION_ENDED,
    STATE_CHANGED,
    TICKET_SOCKETS,
    FrameState,
    Message,
    NewRow,
    frame_encode,
    frame_state,
    new_frame_parts,
    retracted_frame,
    session_fingerprint,
    unread_count_frame,
    updated_frame_parts,
    user_group,
)

logger = logging.getLogger(__name__)

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


def group_channel_name(prefix: str, group: str) -> str:
    """The Redis channel of a group, as channels_redis' RedisPubSubLoopLayer names it."""
    return f"{prefix}__group__{group}"


def _pubsub_publish(layer: RedisPubSubChannelLayer, messages: Sequence[tuple[str, Message]]) -> None:
    """PUBLISH every message in one pipelined round trip per Redis shard, the way the layer's group_send would
    name and serialize them (prefix + "__group__" + group, msgpack)."""
    config: Any = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    hosts = [h["address"] if isinstance(h, dict) else h for h in config["hosts"]]
    prefix = config.get("prefix", "asgi")
    per_shard: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
    for group, message in messages:
        channel = group_channel_name(prefix, group)
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


def notifications_publish_on_commit(sends: Sequence[tuple[Content, Sequence[NewRow]]]) -> None:
    """One `notification` frame per recipient, each send's shared part serialized once, published after commit
    in one pipelined round trip for every send of the call (a bulk send is one publish, not one per item).

    No unread count travels with it: each socket keeps its user's count (from `hello`, +1 per new notification,
    reset by every state change, which carries the counted value) and sends `unread_count` itself, so a send to
    many users does not count anyone's unread rows.
    """
    messages: list[tuple[str, Message]] = []
    for content, rows in sends:
        shared = content_payload(content, content.category)
        parts: dict[FrameState, tuple[str, str, str]] = {}
        for n in rows:
            state = frame_state(n)
            head, middle, tail = parts.get(state) or parts.setdefault(state, new_frame_parts(shared, state))
            text = f"{head}{n.uuid}{middle}{n.seq}{tail}"
            messages.append((user_group(n.recipient_id), {"type": NOTIFICATION_CREATED, "seq": n.seq, "text": text}))
    if messages:
        transaction.on_commit(lambda: _notifications_publish(messages))


def _notifications_publish(messages: Sequence[tuple[str, Message]]) -> None:
    embedded_note_published(messages)
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


def content_update_publish_on_commit(content: Content, rows: Sequence[NewRow]) -> None:
    """One `notification_updated` frame with the new content per recipient row of an updated send, the shared part
    encoded once per row state, all of them published after commit in one pipelined round trip."""
    shared = content_payload(content, content.category)
    parts: dict[FrameState, tuple[str, str, str, str]] = {}
    messages: list[tuple[str, Message]] = []
    for n in rows:
        state = frame_state(n)
        head, middle, seq_before, tail = parts.get(state) or parts.setdefault(state, updated_frame_parts(shared, state))
        text = f"{head}{n.uuid}{middle}{n.uuid}{seq_before}{n.seq}{tail}"
        messages.append((user_group(n.recipient_id), {"type": CONTENT_CHANGED, "text": text}))
    if messages:
        transaction.on_commit(lambda: publish(messages))


def retraction_publish_on_commit(*, ids_by_user: dict[int, list[UUID]], unread_by_user: dict[int, int]) -> None:
    """notification_retracted (the user's retracted ids) then unread_count, to every socket of each user: one
    message per user, all published after commit in one pipelined round trip."""
    messages: list[tuple[str, Message]] = []
    for user_id, ids in ids_by_user.items():
        unread = unread_by_user.get(user_id, 0)
        texts = [retracted_frame([str(i) for i in ids]), unread_count_frame(unread)]
        messages.append((user_group(user_id), {"type": STATE_CHANGED, "texts": texts, "unread": unread}))
    if messages:
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
