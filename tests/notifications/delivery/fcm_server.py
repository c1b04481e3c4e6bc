"""A loopback FCM HTTP v1 server for tests: the OAuth token endpoint and `messages:send`, answering as Google does.

The test writes a service-account file with its own RSA key whose `token_uri` is this server. The token endpoint
checks the JWT-bearer grant (RS256 signature with that key, iss, aud, scope) and issues access tokens;
`POST /v1/projects/<id>/messages:send` checks the bearer token and the message JSON (one token, string-only data,
android priority / TTL / collapse key, the apns block), then answers what the test asked for that registration
token with FCM's error bodies (google.rpc status + FcmError errorCode, a BadRequest field violation when the
token itself is invalid, Retry-After when asked).
"""

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# google-auth addresses the assertion to Google's token endpoint whatever token_uri says; Google accepts that.
AUDIENCES = ["https://oauth2.googleapis.com/token"]
PAYLOAD_MAX = 4096
# errorCode -> (HTTP status, google.rpc status, message)
ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for this device."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
}
INVALID_TOKEN = "INVALID_TOKEN"  # an answer: INVALID_ARGUMENT naming message.token, as FCM says of a bad token


@dataclass
class FcmRequest:
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class FcmServer:
    project_id: str = "notify-test"
    client_email: str = "push@notify-test.iam.gserviceaccount.com"
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    answers: dict[str, str] = field(default_factory=dict)  # registration token -> errorCode or INVALID_TOKEN
    retry_after: dict[str, str] = field(default_factory=dict)  # registration token -> Retry-After header
    requests: list[FcmRequest] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)  # verified JWT-bearer assertions
    access_tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return f"{self.origin}/token"

    def service_account(self, directory: Path) -> str:
        """Write the service-account JSON Google would give you, pointing at this server; returns its path."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        info = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "test-key-1",
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "1",
            "token_uri": self.token_uri,
        }
        path = directory / "service-account.json"
        path.write_text(json.dumps(info))
        return str(path)

    def sends(self, token: str | None = None) -> list[FcmRequest]:
        """messages:send requests that reached the message checks (authorized), optionally for one token."""
        with self.lock:
            return [r for r in self.requests if r.status and r.status != 401 and token in (None, _target(r.body))]

    def start(self) -> "FcmServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body, extra = server.handle(self.path, headers, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any, dict[str, str]]:
        if path == "/token":
            return self._token(raw)
        if path != f"/v1/projects/{self.project_id}/messages:send":
            return _error(404, "NOT_FOUND", "no such method")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        request = FcmRequest(path, headers, body)
        status, answer, extra = self._send(request)
        request.status = status
        with self.lock:
            self.requests.append(request)
        return status, answer, extra

    def _token(self, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}, {}
        try:
            claims = jwt.decode(
                form.get("assertion", ""), self.key.public_key(), algorithms=["RS256"], audience=AUDIENCES
            )
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}, {}
        if claims.get("iss") != self.client_email or SCOPE not in claims.get("scope", "").split():
            return 400, {"error": "invalid_scope"}, {}
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.grants.append(claims)
            self.access_tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}, {}

    def _send(self, request: FcmRequest) -> tuple[int, Any, dict[str, str]]:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            authorized = bearer in self.access_tokens
        if not authorized:
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        problem = _message_problem(request.body)
        if problem:
            return _error(400, "INVALID_ARGUMENT", problem, "INVALID_ARGUMENT")
        token = _target(request.body)
        code = self.answers.get(token)
        if code is None:
            return 200, {"name": f"projects/{self.project_id}/messages/{secrets.token_hex(8)}"}, {}
        extra = {"Retry-After": self.retry_after[token]} if token in self.retry_after else {}
        if code == INVALID_TOKEN:
            message = "The registration token is not a valid FCM registration token"
            return _error(400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT", field="message.token", extra=extra)
        status, rpc_status, message = ERRORS[code]
        return _error(status, rpc_status, message, code, extra=extra)


def _target(body: Any) -> str:
    message = body.get("message") if isinstance(body, dict) else None
    return message.get("token", "") if isinstance(message, dict) else ""


def _message_problem(body: Any) -> str:
    """What FCM would refuse in the message, or ''."""
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        return "Invalid JSON payload: no message"
    if [k for k in ("token", "topic", "condition") if k in message] != ["token"] or not message["token"]:
        return "Exactly one of token, topic or condition is required"
    data = message.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return "Invalid value at 'message.data': values must be strings"
    android = message.get("android", {})
    if android.get("priority", "normal").lower() not in ("normal", "high"):
        return "Invalid value at 'message.android.priority'"
    if "ttl" in android and not re.fullmatch(r"\d+(\.\d{1,9})?s", android["ttl"]):
        return "Invalid value at 'message.android.ttl'"
    if len(android.get("collapse_key", "")) > 100:
        return "Invalid value at 'message.android.collapse_key'"
    apns = message.get("apns", {})
    if not all(isinstance(v, str) for v in apns.get("headers", {}).values()):
        return "Invalid value at 'message.apns.headers'"
    if "apns" in message and not isinstance(apns.get("payload", {}).get("aps", {}), dict):
        return "Invalid value at 'message.apns.payload'"
    size = len(json.dumps({"notification": message.get("notification"), "data": data}, ensure_ascii=False).encode())
    if size > PAYLOAD_MAX:
        return "Message is too big"
    return ""


def _error(
    status: int, rpc_status: str, message: str, code: str = "", field: str = "", extra: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """FCM's error body: a google.rpc status, the FcmError errorCode and, for a bad token, the field violation."""
    details: list[dict[str, Any]] = []
    if code:
        details.append({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code})
    if field:
        violations = [{"field": field, "description": message}]
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations})
    body = {"error": {"code": status, "message": message, "status": rpc_status, "details": details}}
    return status, body, extra or {}
