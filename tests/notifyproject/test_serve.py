"""The web process's WebSocket protocol takes its factory's options itself, so autobahn's per-connection setup has no
option list to pretty-print (a third of a handshake's CPU in a reconnect storm)."""

import autobahn.websocket.protocol as autobahn_protocol
from autobahn.websocket.protocol import WebSocketServerProtocol
from daphne.ws_protocol import WebSocketFactory
from twisted.internet.testing import StringTransport

from notifyproject.serve import OptionsFirstWebSocketProtocol


def _connected(monkeypatch) -> tuple[OptionsFirstWebSocketProtocol, WebSocketFactory, list]:
    formatted: list = []

    def pformat(value: object) -> str:
        formatted.append(value)
        return ""

    monkeypatch.setattr(autobahn_protocol, "pformat", pformat)
    factory = WebSocketFactory(object(), server="daphne")
    factory.setProtocolOptions(failByDrop=False, maxMessagePayloadSize=65536, maxFramePayloadSize=65536)
    protocol = OptionsFirstWebSocketProtocol()
    protocol.factory = factory
    protocol.makeConnection(StringTransport())
    return protocol, factory, formatted


def test_every_option_of_the_factory_reaches_the_connection(monkeypatch):
    # given a factory with the web process's options, when a connection is made
    protocol, factory, _ = _connected(monkeypatch)

    # then the connection has every server option autobahn would have copied, with the factory's values
    assert WebSocketServerProtocol.CONFIG_ATTRS  # what autobahn copies: a non-empty list to check against
    for name in WebSocketServerProtocol.CONFIG_ATTRS:
        assert getattr(protocol, name) == getattr(factory, name), name
    assert (protocol.failByDrop, protocol.maxMessagePayloadSize) == (False, 65536)


def test_autobahn_is_left_no_option_list_to_format(monkeypatch):
    # when a connection is made
    _protocol, _factory, formatted = _connected(monkeypatch)

    # then autobahn's setup pretty-printed an empty list, not its ~30 options (fails if autobahn stops reading
    # CONFIG_ATTRS there: the saving would be gone)
    assert formatted == [[]]
