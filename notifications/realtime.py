"""The one module that knows group names and frame shapes, and the only caller of the channel layer.

Everything is published after commit (a frame about a row that was rolled back must never exist).
"""

import logging
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .models import Content, Notification
from .payloads import content_payload, notification_payload

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    """Group of every socket of one user. Derived only from the authenticated user id."""
    return f"user.{user_id}"


def _group_send_many(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None or not messages:
        return

    async def send_all() -> None:
        for group, message in messages:
            await layer.group_send(group, message)

    try:
        async_to_sync(send_all)()
    except Exception:  # a lost frame is recoverable (clients resume by seq); a failed request is not
        logger.exception("realtime publish failed for %d messages", len(messages))


def notifications_publish_on_commit(notifications: Iterable[Notification], content: Content) -> None:
    shared = content_payload(content, content.category)
    messages = [
        (
            user_group(n.recipient_id),
            {"type": "notification.created", "notification": notification_payload(n, shared)},
        )
        for n in notifications
    ]
    transaction.on_commit(lambda: _group_send_many(messages))


def state_publish_on_commit(
    *,
    user_id: int,
    ids: Sequence[UUID],
    unread_count: int,
    read: bool | None = None,
    archived: bool | None = None,
) -> None:
    """notification_updated (only the changed keys) then unread_count, to every socket of the user."""
    frame: dict[str, Any] = {"type": "notification.updated", "ids": [str(i) for i in ids]}
    if read is not None:
        frame["read"] = read
    if archived is not None:
        frame["archived"] = archived
    group = user_group(user_id)
    messages = [(group, frame), (group, {"type": "unread.count", "count": unread_count})]
    transaction.on_commit(lambda: _group_send_many(messages))
