"""The production channel layer: channels-redis' pub/sub layer (the fast one) that tells its consumers when it
reconnected (CHANNEL_LAYERS BACKEND `notifications.realtime.layer.RecoveringPubSubChannelLayer`).

Written against channels_redis 4.3.0 (requirements.txt). It subclasses channels_redis internals: it replaces
`RedisSingleShardConnection._do_receiving` (a copy of the library's loop plus one addition) and
`RedisPubSubChannelLayer._get_layer`, builds `RedisPubSubLoopLayer._shards` itself with `decode_hosts`, calls
`_wrap_close`, and puts serialized messages on the loop layer's per-channel queues (`channels`) the way
`_receive_message` does. tests/notifications/test_realtime_channels_redis.py fails if an upgrade changes any of
that (including the source of the two replaced methods), so the copy here is re-checked against the new one.
"""

import asyncio
import logging
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts

from .frames import LAYER_RECOVERED

logger = logging.getLogger(__name__)


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
