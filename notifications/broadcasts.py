"""Audience broadcasts ("all" or a group): one content now, the per-recipient rows written by a worker in batches."""

from typing import Any, Unpack

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, QuerySet

from . import jobs
from .inserts import BATCH_SIZE, rows_after_insert, rows_fan_out
from .models import Content, Notification
from .sending import (
    SendResult,
    content_create_once,
    idempotency_key_clean,
    producer_of,
    send_fingerprint,
)
from .validation import SendFields, send_validate

User = get_user_model()

AUDIENCE_ALL = "all"
BROADCAST_TASK = "notifications.broadcast_fan_out"
AUDIENCE_GROUP_PREFIX = "group:"


def audience_users(audience: str) -> QuerySet[Any]:
    """Active users of an audience ("all" or "group:<name>"); ValidationError for anything else."""
    if audience == AUDIENCE_ALL:
        return User.objects.filter(is_active=True)
    if isinstance(audience, str) and audience.startswith(AUDIENCE_GROUP_PREFIX):
        name = audience[len(AUDIENCE_GROUP_PREFIX) :]
        if name and Group.objects.filter(name=name).exists():
            return User.objects.filter(is_active=True, groups__name=name)
        raise ValidationError({"audience": [f"Unknown group {name!r}."]})
    raise ValidationError({"audience": ['Must be "all" or "group:<name>".']})


def notification_broadcast(
    *,
    audience: str,
    actor: AbstractBaseUser | None = None,
    idempotency_key: str = "",
    producer: str | None = None,
    **fields: Unpack[SendFields],
) -> SendResult:
    """Store one content for a whole audience now; a worker writes the per-recipient rows in batches.

    `fields` are a SendFields, as for notify(). The request does not wait for 100,000 inserts: the fan-out task gets
    only the content id and the audience. recipient_count grows as batches commit.
    """
    spec = send_validate(fields)
    key = idempotency_key_clean(idempotency_key)
    audience_users(audience)
    producer = producer_of(actor, producer)
    fingerprint = send_fingerprint(spec, audience=audience)

    with transaction.atomic():
        content, created = content_create_once(
            spec, actor=actor, producer=producer, key=key, fingerprint=fingerprint, recipient_count=0
        )
        if not created:
            return SendResult(id=content.uuid, content=content, recipient_count=content.recipient_count, replayed=True)
        jobs.enqueue_on_commit(BROADCAST_TASK, content.pk, audience)
    return SendResult(id=content.uuid, content=content, recipient_count=0)


def notification_broadcast_batch(*, content_id: int, audience: str, batch_size: int = BATCH_SIZE) -> int:
    """Write the next batch of an audience broadcast; returns how many rows (0: done). Safe to run twice.

    Batches go in user id order and resume after the highest recipient already written, under a row lock on the
    content: a duplicate task waits, then continues where the other stopped, never writing a user twice.
    """
    with transaction.atomic():
        content = Content.objects.select_for_update().select_related("category").filter(pk=content_id).first()
        if content is None or content.retracted_at is not None:
            return 0  # gone, or retracted by its producer mid-broadcast: nobody else gets it
        try:
            users = audience_users(audience)
        except ValidationError:
            return 0  # the group was deleted meanwhile
        done = Notification.objects.filter(content_id=content_id).aggregate(last=Max("recipient_id"))["last"]
        if done is not None:
            users = users.filter(pk__gt=done)
        ids = list(users.order_by("pk").values_list("pk", flat=True).distinct()[:batch_size])
        if not ids:
            return 0
        (rows,) = rows_fan_out([(content, ids)])
        rows_after_insert([(content, rows)])
        Content.objects.filter(pk=content_id).update(recipient_count=F("recipient_count") + len(ids))
    return len(ids)
