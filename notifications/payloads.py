"""The notification object as every client sees it (REST and WebSocket alike), contract.md."""

from typing import Any

from .models import Category, Content, Notification


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


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
        "expires_at": _iso(content.expires_at),
    }


def notification_payload(notification: Notification, shared: dict[str, Any] | None = None) -> dict[str, Any]:
    if shared is None:
        shared = content_payload(notification.content, notification.category)
    return {
        "id": str(notification.uuid),
        "seq": notification.seq,
        **shared,
        "created_at": _iso(notification.created_at),
        "seen_at": _iso(notification.seen_at),
        "read_at": _iso(notification.read_at),
        "archived_at": _iso(notification.archived_at),
        "is_read": notification.read_at is not None,
        "saved_at": _iso(notification.saved_at),
        "snoozed_until": _iso(notification.snoozed_until),
    }


def notification_item(notification: Notification) -> dict[str, object]:
    """What templates render: the client payload (the same the JS module gets) plus the datetime for filters."""
    return {**notification_payload(notification), "created": notification.created_at}
