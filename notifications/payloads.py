"""The notification object as every client sees it (REST and WebSocket alike), contract.md."""

from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from .models import Category, Content, Notification


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _actor_name(content: Content) -> str | None:
    """Who caused it, as the grouped summary names them ("Bob and 3 others"). Lists select_related the actor."""
    actor = content.actor if content.actor_id is not None else None
    if actor is None:
        return None
    return f"{actor.first_name} {actor.last_name}".strip() or actor.get_username()  # type: ignore[attr-defined]


def content_payload(content: Content, category: Category) -> dict[str, Any]:
    """The part shared by every recipient of one send: computed once per send, not per recipient."""
    return {
        "category": category.slug,
        "category_label": category.label,
        "priority": content.priority,
        "title": content.title,
        "body": content.body,
        "url": content.url,
        "image_url": content.image_url,
        "actions": content.actions,
        "data": content.data,
        "group_key": content.group_key,
        "actor": content.actor_id,
        "actor_name": _actor_name(content),
        "expires_at": _iso(content.expires_at),
    }


class PayloadRow(Protocol):
    """What the per-recipient part of the payload reads: a Notification, or a RowState."""

    @property
    def uuid(self) -> UUID: ...
    @property
    def seq(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def seen_at(self) -> datetime | None: ...
    @property
    def read_at(self) -> datetime | None: ...
    @property
    def archived_at(self) -> datetime | None: ...
    @property
    def saved_at(self) -> datetime | None: ...
    @property
    def snoozed_until(self) -> datetime | None: ...
    @property
    def muted(self) -> bool: ...


class RowState(NamedTuple):
    """A row's per-recipient values as plain data (a row just written: nothing seen, read, archived, saved or
    snoozed yet)."""

    uuid: UUID
    seq: int
    created_at: datetime
    seen_at: datetime | None = None
    read_at: datetime | None = None
    archived_at: datetime | None = None
    saved_at: datetime | None = None
    snoozed_until: datetime | None = None
    muted: bool = False


def notification_payload(notification: Notification, shared: dict[str, Any] | None = None) -> dict[str, Any]:
    if shared is None:
        shared = content_payload(notification.content, notification.category)
    return row_payload(notification, shared)


def row_payload(row: PayloadRow, shared: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row.uuid),
        "seq": row.seq,
        **shared,
        "created_at": _iso(row.created_at),
        "seen_at": _iso(row.seen_at),
        "read_at": _iso(row.read_at),
        "archived_at": _iso(row.archived_at),
        "is_read": row.read_at is not None,
        "saved_at": _iso(row.saved_at),
        "snoozed_until": _iso(row.snoozed_until),
        # Sent into a group the user muted: stored (and read) but no toast, badge, email or push.
        "muted": row.muted,
    }


def notification_item(notification: Notification) -> dict[str, object]:
    """What templates render: the client payload (the same the JS module gets) plus the datetime for filters."""
    return {**notification_payload(notification), "created": notification.created_at}
