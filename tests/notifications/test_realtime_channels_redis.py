"""What notifications/realtime relies on inside channels_redis (private names, message format, copied loops).

realtime/publishing.py PUBLISHes on its own (shard choice, channel name, serialization must match what the layer's
subscribers expect) and realtime/layer.py subclasses the layer's internals. Each test here fails if an upgrade of
channels_redis changes one of those; when one fails, re-read the new channels_redis source, adapt the module, then
update the expected value here (and the version named at the top of both modules). No Redis server is needed.
"""

import asyncio
import hashlib
import inspect
import re
import textwrap
from pathlib import Path

import channels_redis
from channels.layers import BaseChannelLayer
from channels_redis import utils
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection

from notifications.realtime import layer as realtime_layer
from notifications.realtime import publishing
from notifications.realtime.frames import LAYER_RECOVERED, NOTIFICATION_CREATED, STATE_CHANGED
from tests.notifications.realtime_helpers import async_test

HOSTS = [{"address": f"redis://127.0.0.1:1/{n}"} for n in range(4)]  # never connected to


def _source_digest(fn: object) -> str:
    return hashlib.sha256(textwrap.dedent(inspect.getsource(fn)).encode()).hexdigest()[:16]  # type: ignore[arg-type]


def _params(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_the_modules_name_the_pinned_channels_redis_version():
    pinned = re.search(r"^channels_redis==(\S+)$", Path("requirements.txt").read_text(), re.M)
    assert pinned is not None
    assert channels_redis.__version__ == pinned.group(1)
    for module in (publishing, realtime_layer):
        assert f"channels_redis {pinned.group(1)}" in (module.__doc__ or "")


def test_consistent_hash_keeps_its_signature_and_its_ring():
    assert _params(utils._consistent_hash) == ["value", "ring_size"]
    assert utils._consistent_hash("anything", 1) == 0
    ring = {g: utils._consistent_hash(g, 4) for g in (f"asgi__group__user.{i}" for i in (1, 7, 42, 1000))}
    assert ring == {
        "asgi__group__user.1": 2,
        "asgi__group__user.7": 3,
        "asgi__group__user.42": 3,
        "asgi__group__user.1000": 1,
    }
    assert utils._consistent_hash(b"asgi__group__user.7", 3) == 2


def test_publishing_names_and_shards_a_group_the_way_the_subscribers_do():
    loop_layer = RedisPubSubLoopLayer(hosts=HOSTS, prefix="p", channel_layer=RedisPubSubChannelLayer())
    for group in ("user.1", "user.2", "user.42", "user.1000"):
        channel = publishing.group_channel_name("p", group)
        assert loop_layer._get_group_channel_name(group) == channel
        assert loop_layer._get_shard(channel) is loop_layer._shards[utils._consistent_hash(channel, len(HOSTS))]


@async_test
async def test_group_send_publishes_the_serialized_message_that_publishing_writes_itself():
    proxy = RedisPubSubChannelLayer(hosts=HOSTS, prefix="p")
    loop_layer = RedisPubSubLoopLayer(hosts=HOSTS, prefix="p", channel_layer=proxy)
    published: list[tuple[str, bytes]] = []

    async def publish(channel: str, data: bytes) -> None:
        published.append((channel, data))

    message = {"type": NOTIFICATION_CREATED, "seq": 3, "text": '{"type":"notification"}'}
    channel = publishing.group_channel_name("p", "user.7")
    loop_layer._get_shard(channel).publish = publish  # type: ignore[method-assign]
    await loop_layer.group_send("user.7", message)
    assert published == [(channel, proxy.serialize(message))]
    assert proxy.deserialize(published[0][1]) == message
    state = {"type": STATE_CHANGED, "texts": ["a", "b"], "unread": 2}
    assert proxy.deserialize(proxy.serialize(state)) == state


def test_the_private_names_the_layer_subclass_uses_keep_their_signatures():
    assert _params(utils._wrap_close) == ["proxy", "loop"]
    assert _params(utils.decode_hosts) == ["hosts"]
    assert utils.decode_hosts(HOSTS) == HOSTS
    assert _params(RedisSingleShardConnection.__init__) == ["self", "host", "channel_layer"]
    assert _params(RedisSingleShardConnection._receive_message) == ["self", "message"]
    assert _params(RedisPubSubLoopLayer.__init__)[:2] == ["self", "hosts"]
    assert "channel_layer" in _params(RedisPubSubLoopLayer.__init__)
    proxy = RedisPubSubChannelLayer(hosts=HOSTS)
    assert (proxy._layers, proxy._args, proxy._kwargs) == ({}, (), {"hosts": HOSTS})
    shard = RedisSingleShardConnection(HOSTS[0], RedisPubSubLoopLayer(hosts=HOSTS, channel_layer=proxy))
    assert (shard.host, shard._pubsub) == (HOSTS[0], None)
    assert isinstance(shard.channel_layer, RedisPubSubLoopLayer)


def test_the_methods_the_layer_replaces_or_mirrors_are_the_ones_it_was_written_against():
    # _do_receiving is copied into _RecoveringShardConnection (plus the reconnect notice); _get_layer and the loop
    # layer's __init__ are replaced to build the recovering classes; _receive_message is what _recovered_notify
    # imitates (serialized bytes on each local channel's queue).
    assert {
        "_do_receiving": _source_digest(RedisSingleShardConnection._do_receiving),
        "_receive_message": _source_digest(RedisSingleShardConnection._receive_message),
        "_get_layer": _source_digest(RedisPubSubChannelLayer._get_layer),
        "loop_layer_init": _source_digest(RedisPubSubLoopLayer.__init__),
        # new_channel's local channels rely on these: receive() finds the queue in `channels` and, when its consumer
        # leaves, unsubscribe() ignores a channel that was never subscribed; send() is what a local send bypasses.
        "receive": _source_digest(RedisPubSubLoopLayer.receive),
        "unsubscribe": _source_digest(RedisSingleShardConnection.unsubscribe),
        "send": _source_digest(RedisPubSubLoopLayer.send),
    } == {
        "_do_receiving": "645ec294718899fc",
        "_receive_message": "bbc1e4ac19a5419a",
        "_get_layer": "40f40530d32ba6a6",
        "loop_layer_init": "a4d005b2fe9a61c3",
        "receive": "0acbad62f3a8d6d9",
        "unsubscribe": "f2dd88002d6aef1e",
        "send": "85c03f3d663b032f",
    }


@async_test
async def test_the_recovering_layer_delivers_layer_recovered_to_every_local_channel():
    proxy = realtime_layer.RecoveringPubSubChannelLayer(hosts=HOSTS[:2], prefix="p")
    loop_layer = proxy._get_layer()
    assert isinstance(loop_layer, realtime_layer._RecoveringLoopLayer)
    assert proxy._get_layer() is loop_layer
    shards = loop_layer._shards
    assert len(shards) == 2 and all(isinstance(s, realtime_layer._RecoveringShardConnection) for s in shards)
    for name in ("p.specific.a", "p.specific.b"):
        loop_layer.channels[name] = asyncio.Queue()
    shards[0]._recovered_notify()
    assert await proxy.receive("p.specific.a") == {"type": LAYER_RECOVERED}
    assert await proxy.receive("p.specific.b") == {"type": LAYER_RECOVERED}
    # the library's own delivery path puts the same bytes on the same queues
    shards[1]._receive_message({"channel": b"p.specific.a", "data": proxy.serialize({"type": "x"})})
    assert await proxy.receive("p.specific.a") == {"type": "x"}


@async_test
async def test_a_consumers_channel_is_local_and_only_its_group_is_subscribed_in_redis():
    # given the production layer whose shards record what they would ask Redis for (no server here)
    proxy = realtime_layer.RecoveringPubSubChannelLayer(hosts=HOSTS[:2], prefix="p")
    loop_layer = proxy._get_layer()
    asked: list[tuple[str, str]] = []
    for shard in loop_layer._shards:

        async def subscribe(channel, shard=shard):
            asked.append(("subscribe", channel))
            shard._subscribed_to.add(channel)

        async def publish(channel, message):
            asked.append(("publish", channel))

        shard.subscribe = subscribe
        shard.publish = publish
    # when a consumer gets its channel and joins its user's group
    channel = await proxy.new_channel()
    await proxy.group_add("user.7", channel)
    # then the channel is a process-local name with a queue, and only the group was subscribed
    assert BaseChannelLayer().require_valid_channel_name(channel)  # what Channels accepts as a channel name
    assert "!" in channel and channel.startswith("pspecific.")
    assert channel in loop_layer.channels
    assert asked == [("subscribe", "p__group__user.7")]
    # a group message from Redis reaches it; so does a send from this process, without Redis
    shard = loop_layer._get_shard("p__group__user.7")
    shard._receive_message({"channel": b"p__group__user.7", "data": proxy.serialize({"type": "g"})})
    assert await proxy.receive(channel) == {"type": "g"}
    await proxy.send(channel, {"type": "direct"})
    assert await proxy.receive(channel) == {"type": "direct"}
    assert asked == [("subscribe", "p__group__user.7")]
    # any other channel is still published to Redis
    await proxy.send("p.elsewhere", {"type": "x"})
    assert asked[-1] == ("publish", "p.elsewhere")
    # and when the consumer leaves, its channel is gone without an UNSUBSCRIBE of it
    waiter = asyncio.ensure_future(proxy.receive(channel))
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert channel not in loop_layer.channels
    assert all(channel not in s._subscribed_to for s in loop_layer._shards)
