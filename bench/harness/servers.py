"""Real servers on loopback for delivery tests and the bench: SMTP (aiosmtpd) and a Web Push service."""

import base64
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- SMTP ---------------------------------------------------------------------------------------------------------


class SmtpHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        # address -> SMTP reply for DATA, e.g. "550 5.1.1 no such user" (default "250 OK")
        self.replies: dict[str, str] = {}
        self.delay = 0.0
        self.started = 0  # DATA commands received, including ones still being processed
        self.peers: list[str] = []  # the client address of each DATA command, in the order they started

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        with self.lock:
            self.started += 1
            self.peers.append(str(session.peer[0]))
        for address in envelope.rcpt_tos:
            if address in self.replies:
                return self.replies[address]
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: SmtpHandler
    controller: Controller

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def stop(self) -> None:
        self.controller.stop()


def smtp_server_start(port: int | None = None, host: str = "127.0.0.1") -> SmtpServer:
    """On loopback by default; the cluster passes its bridge's own address so that hosts in namespaces reach it."""
    handler = SmtpHandler()
    port = port or free_port(host)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return SmtpServer(host, port, handler, controller)


# --- Web Push service -------------------------------------------------------------------------------------------


@dataclass
class Subscription:
    """A browser's push subscription: the keys the user agent keeps (private) and hands out (p256dh, auth)."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def create(cls, endpoint: str) -> "Subscription":
        return cls(endpoint=endpoint, private_key=ec.generate_private_key(ec.SECP256R1()), auth=os.urandom(16))

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)

    @property
    def auth_b64(self) -> str:
        return b64url(self.auth)


@dataclass
class PushRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    """Accepts Web Push requests like a push service: records them, answers with a chosen status per path."""

    port: int
    server: ThreadingHTTPServer
    requests: list[PushRequest] = field(default_factory=list)
    statuses: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def subscription(self, name: str) -> Subscription:
        return Subscription.create(f"{self.origin}/push/{name}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return
            time.sleep(0.02)


def push_service_start() -> PushService:
    holder: dict[str, PushService] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            service = holder["service"]
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with service.lock:
                service.requests.append(PushRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, headers = service.statuses.get(self.path, (201, {}))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service = PushService(port=server.server_address[1], server=server)
    holder["service"] = service
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return service


def vapid_verify(request: PushRequest, *, audience: str, public_key: str) -> dict[str, Any]:
    """Check the VAPID Authorization header (RFC 8292) like a push service does; returns the JWT claims."""
    scheme, _, params = request.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == public_key
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(parts["k"]))
    return jwt.decode(parts["t"], key=key, algorithms=["ES256"], audience=audience)


def push_decrypt(request: PushRequest, subscription: Subscription) -> dict[str, Any]:
    """Decrypt an aes128gcm (RFC 8291) body with the subscription's private key, as the browser would."""
    assert request.headers["content-encoding"] == "aes128gcm"
    plain = http_ece.decrypt(
        request.body, private_key=subscription.private_key, auth_secret=subscription.auth, version="aes128gcm"
    )
    return json.loads(plain)
