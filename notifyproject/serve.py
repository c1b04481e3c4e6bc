"""The web process: daphne, plus a deadline for each connection's first request headers, 1009 for oversized
frames, and a graceful SIGTERM.

`python -m notifyproject.serve` takes daphne's own arguments (the Procfile's `web` line). Twisted's HTTP idle
timeout restarts on every byte, so a client sending its headers a byte at a time (slowloris) holds a connection,
and before the WebSocket handshake a socket slot, forever. Here the request line and all headers must arrive within
HTTP_HEADER_TIMEOUT seconds (default 15, as a front proxy's `timeout http-request` would) of the connection being
accepted, else the connection is dropped. What follows (a WebSocket's life, a request's body, keep-alive) keeps
daphne's own timeouts.

On SIGTERM (a rolling restart) the process stops listening at once, so a load balancer sends new connections to
another host, lets the HTTP requests in flight answer (up to HTTP_DRAIN_SECONDS, default 10), and only then does
what daphne does: cancel every application and exit. Plain daphne cancels the requests in flight too, and their
clients get no answer (HAProxy: a 502 it cannot retry). WebSockets close when the process exits; clients resume.
"""

import logging
import os
import time
from typing import Any

from autobahn.websocket.protocol import WebSocketServerProtocol
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import defer, reactor

logger = logging.getLogger(__name__)

HEADER_TIMEOUT = float(os.environ.get("HTTP_HEADER_TIMEOUT", "15"))
DRAIN_SECONDS = float(os.environ.get("HTTP_DRAIN_SECONDS", "10"))
_clock: Any = reactor  # twisted's stubs type the installed reactor as a module


class _HeaderTimedRequest(WebRequest):
    def gotLength(self, length: int | None) -> None:
        # Twisted calls this once the request line and every header arrived: the deadline is met.
        deadline = getattr(self.channel, "header_deadline", None)
        if deadline is not None and deadline.active():
            deadline.cancel()
        super().gotLength(length)


def _expire(channel: Any) -> None:
    transport = channel.transport
    if transport is None or getattr(transport, "disconnected", False):
        return
    logger.info("dropped a connection whose request headers took over %.0f s", HEADER_TIMEOUT)
    transport.abortConnection()


class HeaderDeadlineFactory(HTTPFactory):
    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = _HeaderTimedRequest
        channel = getattr(protocol, "_channel", protocol)  # HTTP/1.1 behind twisted's protocol negotiation wrapper
        channel.header_deadline = _clock.callLater(HEADER_TIMEOUT, _expire, channel)
        return protocol


class OptionsFirstWebSocketProtocol(WebSocketProtocol):
    """daphne's WebSocket protocol, copying its factory's options itself before autobahn's setup runs.

    autobahn (26.x) copies them in _connectionMade too, over `self.CONFIG_ATTRS`, but pretty-prints the whole list
    for a debug log line first, whatever the log level: ~0.5 ms of the event loop per connection, a third of a
    handshake's budget in a reconnect storm. With the options already set and CONFIG_ATTRS empty, that loop and its
    pformat have nothing to do. tests/notifyproject/test_serve.py fails if autobahn stops reading CONFIG_ATTRS there.
    """

    CONFIG_ATTRS: tuple[str, ...] = ()
    FACTORY_OPTIONS = tuple(WebSocketServerProtocol.CONFIG_ATTRS)

    def connectionMade(self) -> None:
        for name in self.FACTORY_OPTIONS:
            if not hasattr(self, name):
                setattr(self, name, getattr(self.factory, name))
        super().connectionMade()


class HeaderDeadlineServer(Server):
    """daphne's Server, listening with HeaderDeadlineFactory, and closing failed WebSockets with a close frame.

    Server.run() builds its factories by assignment and listens with them at once; these properties are the one
    seam that adjusts them without copying run().
    """

    @property
    def ws_factory(self) -> Any:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: Any) -> None:
        # daphne refuses a frame over --websocket-max-message-size before reading it, but autobahn then drops the
        # TCP connection (the client sees 1006). With failByDrop off it sends the close frame: 1009, as
        # contract.md promises. Only how a failed connection ends changes.
        factory.setProtocolOptions(failByDrop=False)
        factory.protocol = OptionsFirstWebSocketProtocol
        self._ws_factory = factory

    @property
    def http_factory(self) -> HTTPFactory:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: HTTPFactory) -> None:
        self._http_factory = HeaderDeadlineFactory(self) if type(factory) is HTTPFactory else factory

    def listen_success(self, port: Any) -> None:
        self.ports: list[Any] = [*getattr(self, "ports", []), port]
        super().listen_success(port)

    def http_in_flight(self) -> int:
        """HTTP requests received and not yet answered (a WebSocket is not one)."""
        return sum(
            1
            for protocol, details in self.connections.items()
            if isinstance(protocol, WebRequest) and "disconnected" not in details
        )

    def kill_all_applications(self) -> Any:
        """Run by the reactor before it shuts down (SIGTERM): drain HTTP first, then daphne's own clean-up."""
        for port in getattr(self, "ports", []):
            port.stopListening()
        in_flight = self.http_in_flight()
        logger.info("stopped listening; draining %d HTTP request(s) for up to %.0f s", in_flight, DRAIN_SECONDS)
        deadline = time.monotonic() + DRAIN_SECONDS
        drained: defer.Deferred[None] = defer.Deferred()

        def check() -> None:
            if not self.http_in_flight() or time.monotonic() > deadline:
                drained.callback(None)
            else:
                _clock.callLater(0.05, check)

        check()
        drained.addCallback(lambda _: super(HeaderDeadlineServer, self).kill_all_applications())
        return drained


class HeaderDeadlineCommandLine(CommandLineInterface):
    server_class = HeaderDeadlineServer


if __name__ == "__main__":
    HeaderDeadlineCommandLine.entrypoint()
