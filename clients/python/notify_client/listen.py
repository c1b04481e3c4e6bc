"""Listening over the WebSocket as a service or a bot: every notification once, whatever the network does."""

import asyncio
import json
import random
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import websockets
from websockets.asyncio.client import connect

from .errors import AuthenticationFailed, ConnectionFailed, ResyncRequired

if TYPE_CHECKING:
    from .aio import AsyncClient

# Close codes after which reconnecting cannot help (docs/protocol.md): the credentials ended / policy.
FINAL_CLOSE_CODES = {4401, 1008}
REMEMBERED_IDS = 10_000


def ws_url(base_url: str) -> str:
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://") + "/ws/notifications/"
    return "ws://" + base_url.removeprefix("http://") + "/ws/notifications/"


async def listen(
    client: "AsyncClient",
    *,
    last_seq: int = 0,
    backoff: float = 0.5,
    max_backoff: float = 30.0,
    open_timeout: float = 10.0,
) -> AsyncIterator[dict[str, Any]]:
    """Yield every notification after `last_seq`, oldest first, each once.

    Each connection takes a fresh single-use ticket, then sends `resume` with the highest seq yielded so far: the
    server replays what was missed and streams the rest. A live frame and a replayed one of the same notification
    can both arrive; they are told apart by id and seq: the same id with a higher seq is the notification back again
    (woken from a snooze) and is yielded once more (docs/protocol.md). A dropped connection is retried with jittered
    exponential backoff; a close for ended credentials raises AuthenticationFailed, an unusable cursor
    ResyncRequired.
    """
    seen: OrderedDict[str, int] = OrderedDict()  # id -> the highest seq yielded for it
    failures = 0
    while True:
        try:
            ticket = await client.ticket()
            async with connect(
                f"{ws_url(client.base_url)}?ticket={ticket}", open_timeout=open_timeout, compression=None
            ) as socket:
                await socket.send(json.dumps({"type": "resume", "last_seq": last_seq}))
                async for raw in socket:
                    failures = 0
                    frame = json.loads(raw)
                    kind = frame.get("type")
                    if kind == "resync_required":
                        raise ResyncRequired(str(frame.get("reason")))
                    if kind != "notification":
                        continue
                    notification = frame["notification"]
                    key, seq = notification["id"], int(notification["seq"])
                    if seen.get(key, -1) >= seq:
                        continue
                    seen[key] = seq
                    seen.move_to_end(key)
                    if len(seen) > REMEMBERED_IDS:
                        seen.popitem(last=False)
                    last_seq = max(last_seq, seq)
                    yield notification
        except websockets.ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code in FINAL_CLOSE_CODES:
                raise AuthenticationFailed(f"the server closed the socket: {exc.rcvd.code}") from exc
        except (OSError, TimeoutError, websockets.InvalidHandshake, ConnectionFailed):
            pass  # the server is unreachable or refused this ticket: try again with a new one
        await asyncio.sleep(random.uniform(0, min(max_backoff, backoff * 2**failures)))
        failures += 1
