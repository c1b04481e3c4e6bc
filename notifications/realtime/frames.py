"""Group names, layer message types and frame shapes: the one place that knows them.

Frames are JSON text encoded once here (orjson), carried through the channel layer as is, and forwarded by the
consumer without re-encoding.
"""

import hashlib
from typing import Any

import orjson

Message = dict[str, Any]

# Layer message types (dotted, handled by NotificationConsumer.<type with underscores>).
NOTIFICATION_CREATED = "notification.created"
STATE_CHANGED = "state.changed"
SESSION_ENDED = "session.ended"
CREDENTIALS_CHANGED = "credentials.changed"
# The `session` of sockets opened with a ticket (token clients), in SESSION_ENDED messages.
TICKET_SOCKETS = "tickets"
LAYER_RECOVERED = "layer.recovered"


def user_group(user_id: int) -> str:
    """Group of every socket of one user. Derived only from the authenticated user id."""
    return f"user.{user_id}"


def frame_encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def notification_frame(payload: dict[str, Any], *, replay: bool) -> str:
    return frame_encode({"type": "notification", "notification": payload, "replay": replay})


def unread_count_frame(count: int) -> str:
    return f'{{"type":"unread_count","count":{int(count)}}}'


def session_fingerprint(session_key: str | None) -> str:
    """Sockets are matched to a session without sending the session key itself through Redis."""
    return hashlib.sha256((session_key or "").encode()).hexdigest()[:32]
