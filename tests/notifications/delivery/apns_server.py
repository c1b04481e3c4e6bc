"""A loopback APNs provider API for tests: HTTP/2 over TLS, checking what Apple checks, answering as Apple does.

Runs its own asyncio loop in a thread (one TLS socket is only ever read and written from that loop). Checks, in
Apple's order: `:method` POST and `:path` `/3/device/<64 hex>`, the `authorization: bearer <ES256 JWT>` (kid, iss,
iat, signature against the test's key, age under an hour), `apns-topic`, `apns-push-type`, `apns-priority`,
`apns-expiration`, `apns-collapse-id` (≤ 64 bytes), a JSON payload ≤ 4 KB; then answers what the test asked for
that device token (200 by default). Error answers carry Apple's JSON `{"reason": ...}` (and a timestamp for 410).
"""

import asyncio
import datetime
import ipaddress
import json
import re
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded, StreamReset
from h2.exceptions import H2Error

PUSH_TYPES = frozenset(
    {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm", "liveactivity"}
)
PAYLOAD_MAX = 4096
TOKEN_MAX_AGE = 3600


@dataclass(frozen=True)
class Tls:
    """A CA and a certificate it signed for 127.0.0.1, as PEM files (the client trusts ca_file)."""

    ca_file: str
    cert_file: str
    key_file: str


def tls_make(directory: Path) -> Tls:
    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test APNs CA"))
        .issuer_name(name("test APNs CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = Tls(str(directory / "ca.pem"), str(directory / "server.pem"), str(directory / "server.key"))
    Path(files.ca_file).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    Path(files.cert_file).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(files.key_file).write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


@dataclass
class ApnsRequest:
    """One request as the server saw it (also the rejected ones)."""

    token: str
    headers: dict[str, str]
    payload: Any
    size: int
    provider_token: str
    status: int = 0
    reason: str = ""


@dataclass
class ApnsServer:
    topic: str
    team_id: str
    key_id: str
    public_key: ec.EllipticCurvePublicKey
    tls: Tls
    port: int = 0
    # device token -> (status, reason) to answer once the request passed every check
    answers: dict[str, tuple[int, str]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)  # device token -> seconds before answering
    expired_tokens: set[str] = field(default_factory=set)  # provider tokens answered 403 ExpiredProviderToken
    expire_every_token: bool = False  # every provider token is expired as soon as it is seen
    requests: list[ApnsRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "ApnsServer":
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        context.set_alpn_protocols(["h2"])
        start = asyncio.start_server(self._connection, "127.0.0.1", 0, ssl=context)
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def sent(self, token: str | None = None) -> list[ApnsRequest]:
        """Requests that were accepted (200), optionally for one device token."""
        with self.lock:
            return [r for r in self.requests if r.status == 200 and token in (None, r.token)]

    def to(self, token: str) -> list[ApnsRequest]:
        with self.lock:
            return [r for r in self.requests if r.token == token]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        tasks: set[asyncio.Task] = set()
        try:
            while data := await reader.read(65535):
                for event in conn.receive_data(data):
                    if isinstance(event, RequestReceived):
                        pairs = cast("list[tuple[str, str]]", event.headers)  # str: header_encoding="utf-8"
                        streams[event.stream_id] = (dict(pairs), bytearray())
                    elif isinstance(event, DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        task = asyncio.create_task(self._respond(conn, writer, event.stream_id, headers, bytes(body)))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    elif isinstance(event, StreamReset):
                        streams.pop(event.stream_id, None)
                    elif isinstance(event, ConnectionTerminated):
                        return
                writer.write(conn.data_to_send())
        except (ConnectionError, ssl.SSLError, H2Error, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _respond(
        self, conn: H2Connection, writer: asyncio.StreamWriter, stream_id: int, headers: dict[str, str], body: bytes
    ) -> None:
        request, status, reason = self._judge(headers, body)
        with self.lock:
            self.requests.append(request)
        await asyncio.sleep(self.delays.get(request.token, 0))
        answer = [(":status", str(status)), ("apns-id", headers.get("apns-id") or str(uuid.uuid4()))]
        try:
            if status == 200:
                conn.send_headers(stream_id, answer, end_stream=True)
            else:
                error: dict[str, Any] = {"reason": reason}
                if status == 410:
                    error["timestamp"] = int(time.time() * 1000)
                conn.send_headers(stream_id, [*answer, ("content-type", "application/json")])
                conn.send_data(stream_id, json.dumps(error).encode(), end_stream=True)
            writer.write(conn.data_to_send())
        except (H2Error, ConnectionError):
            pass  # the client went away (it timed out): Apple would not answer either

    def _judge(self, headers: dict[str, str], body: bytes) -> tuple[ApnsRequest, int, str]:
        match = re.fullmatch(r"/3/device/([^/]+)", headers.get(":path", ""))
        token = match.group(1) if match else ""
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = None
        provider = headers.get("authorization", "").removeprefix("bearer ")
        request = ApnsRequest(token, headers, payload, len(body), provider)
        request.status, request.reason = self._check(request)
        if request.status == 200 and token in self.answers:
            request.status, request.reason = self.answers[token]
        return request, request.status, request.reason

    def _check(self, request: ApnsRequest) -> tuple[int, str]:
        headers = request.headers
        if headers.get(":method") != "POST":
            return 405, "MethodNotAllowed"
        if not re.fullmatch(r"[0-9a-f]{64}", request.token):
            return 400, "BadDeviceToken"
        auth = self._check_provider_token(request.provider_token)
        if auth:
            return 403, auth
        if "apns-topic" not in headers:
            return 400, "MissingTopic"
        if headers["apns-topic"] != self.topic:
            return 400, "DeviceTokenNotForTopic"
        if headers.get("apns-push-type") not in PUSH_TYPES:
            return 400, "InvalidPushType"
        if headers.get("apns-priority", "10") not in ("5", "10"):
            return 400, "BadPriority"
        if not headers.get("apns-expiration", "0").isdigit():
            return 400, "BadExpirationDate"
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            return 400, "BadCollapseId"
        if request.size > PAYLOAD_MAX:
            return 413, "PayloadTooLarge"
        if not isinstance(request.payload, dict) or not isinstance(request.payload.get("aps"), dict):
            return 400, "PayloadEmpty"
        return 200, ""

    def _check_provider_token(self, token: str) -> str:
        if not token:
            return "MissingProviderToken"
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self.public_key, algorithms=["ES256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        if header.get("kid") != self.key_id or claims.get("iss") != self.team_id or "iat" not in claims:
            return "InvalidProviderToken"
        with self.lock:
            if self.expire_every_token:
                self.expired_tokens.add(token)
            if token in self.expired_tokens or claims["iat"] < time.time() - TOKEN_MAX_AGE:
                return "ExpiredProviderToken"
        return ""
