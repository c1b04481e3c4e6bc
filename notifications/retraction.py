"""A producer's update and retraction of a send it made (issue 13).

Content is stored once per send, so an update is one UPDATE of the content row and a retraction one UPDATE of it
(retracted_at) plus one set-based UPDATE of its recipient rows: they are archived and un-snoozed, so they leave
the partial unread index and every count stays the index-only scan it is (a join to content there would cost every
badge query); lists, detail and replay already join content and exclude retracted sends (selectors._base). Frames go
out after commit, one pipelined publish for every recipient; email and push read the current content when they are
sent (delivery/machine.py), and a retracted send's pending ones are skipped (`retracted`).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack
from uuid import UUID

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import jobs, realtime, selectors
from .delivery.planner import deliveries_cancel_of_contents
from .delivery.webhook_events import webhook_state_events_record
from .models import Content, Notification, SkipReason, WebhookEventType
from .sending import producer_of
from .validation import send_validate

WEBPUSH_RETRACT_TASK = "notifications.tasks.webpush_retract"


class UpdateFields(TypedDict, total=False):
    """What an update may change; anything else of a send (category, priority, group_key, recipients) stays."""

    title: str
    body: str
    url: str
    image_url: str
    actions: list[dict[str, str]] | None
    data: dict[str, Any] | None


UPDATE_FIELDS: tuple[str, ...] = tuple(UpdateFields.__annotations__)


class SendRetracted(Exception):
    """The send was retracted: it can no longer be updated."""


@dataclass(frozen=True)
class Retraction:
    sends: int  # sends retracted by this call (already retracted ones are not counted again)
    notifications: int  # their recipient rows


def send_lookup(
    *, send_id: UUID | str | None = None, idempotency_key: str = "", producer: str | None = None, actor: Any = None
) -> Content:
    """The send to update or retract: by its id, or by (producer, idempotency key). `producer`/`actor` scope the
    lookup to that producer's sends (as notify() names them); with neither, a lookup by id finds any producer's.
    Content.DoesNotExist otherwise, the same for another producer's send as for none."""
    scoped = producer if producer is not None else (producer_of(actor, None) if actor is not None else None)
    if send_id is None and scoped is None:
        scoped = producer_of(None, None)  # a key without a producer: notify()'s default producer
    return selectors.content_of_producer(producer=scoped, id=send_id, idempotency_key=idempotency_key)


def notification_update(
    *,
    send_id: UUID | str | None = None,
    idempotency_key: str = "",
    producer: str | None = None,
    actor: Any = None,
    **changes: Unpack[UpdateFields],
) -> Content:
    """Change a sent notification's title, body, url, image_url, actions and/or data, validated exactly as a send
    is. Every open socket of every recipient gets `notification_updated` with the whole new notification after
    commit; pending email and push are rendered from the new content when they go out.

    Raises Content.DoesNotExist (not this producer's, or none), SendRetracted, ValidationError by field, TypeError
    for a field an update cannot change."""
    unknown = set(changes) - set(UPDATE_FIELDS)
    if unknown:
        raise TypeError(f"Cannot update: {', '.join(sorted(unknown))}.")
    found = send_lookup(send_id=send_id, idempotency_key=idempotency_key, producer=producer, actor=actor)
    with transaction.atomic():
        # The row lock orders concurrent updates and retractions of one send.
        content = Content.objects.select_for_update().select_related("category").get(pk=found.pk)
        if content.retracted_at is not None:
            raise SendRetracted("This send was retracted.")
        if not changes:
            return content
        current: dict[str, Any] = {
            "category": content.category,
            "priority": content.priority,
            "group_key": content.group_key,
            "expires_at": content.expires_at,
            **{name: getattr(content, name) for name in UPDATE_FIELDS},
        }
        spec = send_validate({**current, **changes})
        for name in UPDATE_FIELDS:
            setattr(content, name, getattr(spec, name))
        content.updated_at = timezone.now()
        content.save(update_fields=[*UPDATE_FIELDS, "updated_at"])
        rows = list(
            Notification.objects.filter(content=content).only(
                "uuid",
                "seq",
                "recipient_id",
                "created_at",
                "seen_at",
                "read_at",
                "archived_at",
                "saved_at",
                "snoozed_until",
            )
        )
        realtime.content_update_publish_on_commit(content, rows)
    return content


def notification_retract(
    *, send_id: UUID | str | None = None, idempotency_key: str = "", producer: str | None = None, actor: Any = None
) -> Retraction:
    """Retract a send: it leaves every inbox and badge at once (notification_retracted, then unread_count, on every
    socket of every recipient), its pending email/push are skipped (`retracted`), web pushes already shown are
    closed, and the producer's endpoints get `notification.retracted`. Retracting it again changes nothing.

    Raises Content.DoesNotExist (not this producer's, or none)."""
    content = send_lookup(send_id=send_id, idempotency_key=idempotency_key, producer=producer, actor=actor)
    return contents_retract(content_ids=[content.pk])


def notifications_retract_group(*, group_key: str, producer: str | None = None, actor: Any = None) -> Retraction:
    """Retract every send of this producer with this group_key ("the comment was deleted")."""
    scoped = producer if producer is not None else producer_of(actor, None)
    if not group_key:
        return Retraction(sends=0, notifications=0)
    return contents_retract(content_ids=selectors.content_ids_of_group(producer=scoped, group_key=group_key))


def contents_retract(*, content_ids: Sequence[int], now: datetime | None = None) -> Retraction:
    """Retract these sends (any producer's: callers authorized it), set-based whatever their audience: one UPDATE of
    the contents, one of their rows, one of their deliveries, one count of the affected users' unread rows."""
    if not content_ids:
        return Retraction(sends=0, notifications=0)
    now = now or timezone.now()
    with transaction.atomic():
        # Locked in id order (as broadcasts lock theirs): a broadcast batch waits, then sees retracted_at and stops.
        pks = list(
            Content.objects.select_for_update()
            .filter(pk__in=list(content_ids), retracted_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not pks:
            return Retraction(sends=0, notifications=0)
        Content.objects.filter(pk__in=pks).update(retracted_at=now)
        rows = list(Notification.objects.filter(content_id__in=pks).values_list("pk", "uuid", "recipient_id"))
        Notification.objects.filter(content_id__in=pks).update(
            archived_at=Coalesce(F("archived_at"), Value(now)), snoozed_until=None
        )
        deliveries_cancel_of_contents(content_ids=pks, reason=SkipReason.RETRACTED)
        webhook_state_events_record(
            notification_ids=[pk for pk, _u, _r in rows], event=WebhookEventType.RETRACTED, now=now
        )
        ids_by_user: dict[int, list[UUID]] = defaultdict(list)
        for _pk, uuid, recipient_id in rows:
            ids_by_user[recipient_id].append(uuid)
        unread = selectors.notification_unread_counts_of_contents(content_ids=pks)
        realtime.retraction_publish_on_commit(ids_by_user=dict(ids_by_user), unread_by_user=unread)
        jobs.enqueue_on_commit(WEBPUSH_RETRACT_TASK, pks)
    return Retraction(sends=len(pks), notifications=len(rows))
