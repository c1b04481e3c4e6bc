"""The production channel layer: channels-redis' pub/sub layer (the fast one) that tells its consumers when it
reconnected (CHANNEL_LAYERS BACKEND `notifications.realtime.layer.RecoveringPubSubChannelLayer`), and gives each
consumer a process-local channel instead of a Redis subscription of its own.

Written against channels_redis 4.3.0 (requirements.txt). It subclasses channels_redis internals: it replaces
`RedisSingleShardConnection._do_receiving` (a copy of the library's loop plus one addition) and
`RedisPubSubChannelLayer._get_layer`, builds `RedisPubSubLoopLayer._shards` itself with `decode_hosts`, calls
`_wrap_close`, puts serialized messages on the loop layer's per-channel queues (`channels`) the way
`_receive_message` does, and makes consumers' channels local (`new_channel`, relying on `receive` finding them in
`channels` and on `unsubscribe` ignoring a channel it never subscribed).
tests/notifications/test_realtime_channels_redis.py fails if an upgrade changes any of that (including the source
of the methods replaced or relied on), so the code here is re-checked against the new one.
"""

import asyncio
import logging
import uuid
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts

from .frames import LAYER_RECOVERED

logger = logging.getLogger(__name__)

LOCAL_MARK = "!"


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

    async def new_channel(self, prefix: str = "specific.") -> str:
        """A consumer's own channel, local to this process ("!", the ASGI mark of a process-local channel): a
        queue, and no Redis subscription. The library SUBSCRIBEs every consumer's channel (and UNSUBSCRIBEs it
        when the socket closes), under the shard's one lock that every handshake's group subscription also waits
        for; nothing here sends to a consumer's channel from another process (every frame goes to the user's group),
        so a reconnect storm pays one subscription per socket instead of two."""
        channel = f"{self.prefix}{prefix}{LOCAL_MARK}{uuid.uuid4().hex}"
        self.channels[channel] = asyncio.Queue()
        return channel

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """A message for a local channel of this process goes straight on its queue (not through Redis, where no
        one listens for it); any other channel is the library's."""
        queue = self.channels.get(channel) if LOCAL_MARK in channel else None
        if queue is not None:
            queue.put_nowait(self.channel_layer.serialize(message))
            return
        await super().send(channel, message)


class RecoveringPubSubChannelLayer(RedisPubSubChannelLayer):
    """The production channel layer: Redis pub/sub (the fast channels-redis layer) with reconnect notification."""

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _RecoveringLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer
