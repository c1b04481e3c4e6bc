"""Group names, layer message types and frame shapes: the one place that knows them.

Frames are JSON text encoded once here (orjson), carried through the channel layer as is, and forwarded by the
consumer without re-encoding.
"""

import hashlib
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import orjson

from ..payloads import PayloadRow, RowState, row_payload

Message = dict[str, Any]

# Layer message types (dotted, handled by NotificationConsumer.<type with underscores>).
NOTIFICATION_CREATED = "notification.created"
STATE_CHANGED = "state.changed"
SESSION_ENDED = "session.ended"
CREDENTIALS_CHANGED = "credentials.changed"
# The `session` of sockets opened with a ticket (token clients), in SESSION_ENDED messages.
TICKET_SOCKETS = "tickets"
LAYER_RECOVERED = "layer.recovered"
# A producer updated a send: `text`, one notification_updated frame, forwarded as is (no count changes).
CONTENT_CHANGED = "content.changed"


def user_group(user_id: int) -> str:
    """Group of every socket of one user. Derived only from the authenticated user id."""
    return f"user.{user_id}"


def frame_encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def notification_frame(payload: dict[str, Any], *, replay: bool) -> str:
    return frame_encode({"type": "notification", "notification": payload, "replay": replay})


class NewRow(PayloadRow, Protocol):
    """What a live frame needs of a row: inserts.WrittenRow (just written), or a Notification (woken from snooze)."""

    @property
    def recipient_id(self) -> int: ...


# A row's values other than its id and seq: rows that share them share their frame's text around id and seq.
FrameState = tuple[datetime, datetime | None, datetime | None, datetime | None, datetime | None, datetime | None, bool]

_PROBE_ID = UUID(int=0)
_PROBE_SEQ = -918273645


def frame_state(row: NewRow) -> FrameState:
    return (row.created_at, row.seen_at, row.read_at, row.archived_at, row.saved_at, row.snoozed_until, row.muted)


def new_frame_parts(shared: dict[str, Any], state: FrameState) -> tuple[str, str, str]:
    """The live `notification` frame of a row of a send, as text around its id and its seq: the frame is
    head + id + middle + seq + tail. The parts come from encoding one probe row the ordinary way (so the bytes are
    exactly notification_frame's; tested), once per send and state instead of one dict and one encode per recipient.

    Splitting at the first occurrence of each probe value is safe: id and seq come before any content field.
    """
    text = notification_frame(row_payload(RowState(_PROBE_ID, _PROBE_SEQ, *state), shared), replay=False)
    head, rest = text.split(str(_PROBE_ID), 1)
    middle, tail = rest.split(str(_PROBE_SEQ), 1)
    return head, middle, tail


def updated_frame_parts(shared: dict[str, Any], state: FrameState) -> tuple[str, str, str, str]:
    """The `notification_updated` frame of a row of an updated send, carrying the whole new `notification` (beside
    `ids`, so clients that only read the state keys keep working): head + id + middle + id + seq_before + seq + tail,
    returned as (head, middle, seq_before, tail). Encoded once per send and row state, like new_frame_parts.

    Splitting at the first occurrences is safe: `ids` and the payload's id and seq come before any content field."""
    payload = row_payload(RowState(_PROBE_ID, _PROBE_SEQ, *state), shared)
    text = frame_encode({"type": "notification_updated", "ids": [str(_PROBE_ID)], "notification": payload})
    head, middle, rest = text.split(str(_PROBE_ID), 2)
    seq_before, tail = rest.split(str(_PROBE_SEQ), 1)
    return head, middle, seq_before, tail


def content_updated_frame(payload: dict[str, Any]) -> str:
    """One row's `notification_updated` with its send's new content, encoded whole (the resume catch-up; the live
    path builds the same bytes from updated_frame_parts)."""
    return frame_encode({"type": "notification_updated", "ids": [payload["id"]], "notification": payload})


def retracted_frame(ids: list[str]) -> str:
    """These notifications were retracted by their producer: clients remove them (the unread count follows)."""
    return frame_encode({"type": "notification_retracted", "ids": ids})


def unread_count_frame(count: int, groups: int | None = None) -> str:
    """`groups` (the count with each group counted once) rides along where it was counted: after a state change."""
    if groups is None:
        return f'{{"type":"unread_count","count":{int(count)}}}'
    return f'{{"type":"unread_count","count":{int(count)},"groups":{int(groups)}}}'


def session_fingerprint(session_key: str | None) -> str:
    """Sockets are matched to a session without sending the session key itself through Redis."""
    return hashlib.sha256((session_key or "").encode()).hexdigest()[:32]
