"""A minimal WebSocket client for reconnect storms: the RFC 6455 opening handshake (checked: 101, Upgrade, the
Sec-WebSocket-Accept of our key), the first server frame, and a masked close frame. Nothing else.

Why not the websockets library: on this 2-core machine the load generator shares the CPU with the servers, and the
library's client spent about as much CPU per connection as a web process spent on the whole handshake (S11, 10,000
sockets: 0.8 ms against 1.3 ms), with a keepalive ping per socket that browsers do not send. Browsers reconnecting
after a deploy run on their own machines; this client keeps the load generator's share small so the servers'
capacity is what S11 measures.
"""

import asyncio
import base64
import hashlib
import os
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeRefused(Exception):
    """The server answered the upgrade with something other than 101 (e.g. 403, 503)."""


def _accept_of(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


async def _frame_read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unfragmented server frame (servers never mask): (opcode, payload)."""
    head = await reader.readexactly(2)
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    return opcode, await reader.readexactly(length)


def _close_frame() -> bytes:
    mask = os.urandom(4)
    payload = struct.pack("!H", 1000)
    return bytes([0x88, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class StormSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def recv_text(self) -> str:
        """The next text frame's payload (pings are not expected: the server sends none before hello)."""
        while True:
            opcode, payload = await _frame_read(self.reader)
            if opcode == 0x1:
                return payload.decode()
            if opcode == 0x8:
                raise ConnectionError(f"closed by the server: {payload[:2].hex()}")

    async def close(self) -> None:
        try:
            self.writer.write(_close_frame())
            await self.writer.drain()
        finally:
            self.writer.close()


async def storm_connect(host: str, port: int, path: str, *, cookie: str, origin: str) -> StormSocket:
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n"
            f"Cookie: {cookie}\r\n\r\n"
        ).encode()
    )
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        writer.close()
        raise ConnectionError("no HTTP response to the upgrade") from exc
    status_line, *header_lines = head.decode("latin1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
    if status_line.split(" ")[1:2] != ["101"]:
        writer.close()
        raise HandshakeRefused(status_line)
    if (
        headers.get("upgrade", "").lower() != "websocket"
        or headers.get("sec-websocket-accept") != _accept_of(key).decode()
    ):
        writer.close()
        raise ConnectionError("not a WebSocket upgrade")
    return StormSocket(reader, writer)
