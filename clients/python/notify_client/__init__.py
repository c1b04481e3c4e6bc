"""A client for producer apps: send, send in bulk, broadcast, update and retract, and listen over the WebSocket.

from notify_client import Client
with Client("https://notify.example.com", token="...") as client:
    client.send(recipients=[12], category="comment", title="Bob replied")
"""

from .aio import AsyncClient
from .client import Client
from .errors import (
    AuthenticationFailed,
    ConnectionFailed,
    IdempotencyMismatch,
    InFlight,
    NotFound,
    NotifyError,
    PermissionDenied,
    RateLimited,
    ResyncRequired,
    Retracted,
    ServerError,
    ValidationFailed,
)
from .listen import listen
from .models import BulkItemResult, Queued, Retraction, SendResult

__all__ = [
    "AsyncClient",
    "AuthenticationFailed",
    "BulkItemResult",
    "Client",
    "ConnectionFailed",
    "IdempotencyMismatch",
    "InFlight",
    "NotFound",
    "NotifyError",
    "PermissionDenied",
    "Queued",
    "RateLimited",
    "ResyncRequired",
    "Retracted",
    "Retraction",
    "SendResult",
    "ServerError",
    "ValidationFailed",
    "listen",
]
