"""Embedded mode (no Redis): notifications written by other processes reach this process's sockets.

The in-memory layer reaches only this process. `manage.py notify` (or a worker) writes rows from another process;
one watcher per web process notices them (one indexed query per tick, whatever the number of sockets) and nudges
the recipients' sockets, which refill from the database. Rows this process published itself are skipped.
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from .. import selectors
from .frames import LAYER_RECOVERED, Message, user_group

logger = logging.getLogger(__name__)

_published_high: dict[int, int] = {}
_watch_task: asyncio.Task[None] | None = None
WATCH_INTERVAL = 0.5


def embedded_note_published(messages: Sequence[tuple[str, Message]]) -> None:
    """Remember the newest seq this process published per user, so the watcher does not nudge for it."""
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
