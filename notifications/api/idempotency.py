"""Idempotency-Key for producers (contract.md): the first response to (sender, key) is kept and replayed.

Order of events, and why:
1. The record is inserted first, in its own committed transaction, with status_code NULL ("in flight"). A second
   request with the same key hits the unique index: it answers 409 while the first is in flight, 422 if its body
   differs, and the stored response once the first has finished. So two concurrent requests never both send.
2. The send and the final response are written in ONE transaction: a record never claims a send that rolled back.
3. A request that fails (4xx, or a crash) deletes its record: nothing was sent, the client may retry the key.
   A record left in flight by a killed process is taken over after IN_FLIGHT_STALE.
Records are kept at least IDEMPOTENCY_RETENTION; services.idempotency_records_purge (a daily task) deletes older ones.
"""

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ..models import IdempotencyRecord
from ..validation import IDEMPOTENCY_KEY_MAX

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
IN_FLIGHT_STALE = timedelta(minutes=5)

Handler = Callable[[IdempotencyRecord | None], Response]


def request_hash(request: Request) -> str:
    try:
        canonical = orjson.dumps({"path": request.path, "body": request.data}, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        canonical = repr((request.path, request.data)).encode()
    return hashlib.sha256(canonical).hexdigest()


def idempotency_key_get(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise ValidationError({HEADER: [f"Must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters."]})
    return key


def _claim(*, sender: Any, key: str, digest: str) -> tuple[IdempotencyRecord | None, Response | None]:
    """Insert the in-flight record, or answer from the existing one."""
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(sender=sender, key=key, request_hash=digest), None
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(sender=sender, key=key).first()
        if existing is None:
            continue  # purged or released between the insert and the read: try again
        if existing.request_hash != digest:
            return None, Response(
                {"detail": "This Idempotency-Key was already used with a different request body."},
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        if existing.status_code is None:
            stale = timezone.now() - IN_FLIGHT_STALE
            if existing.created_at < stale:
                taken = IdempotencyRecord.objects.filter(
                    pk=existing.pk, status_code__isnull=True, created_at=existing.created_at
                ).update(created_at=timezone.now())
                if taken:
                    return existing, None
            return None, Response(
                {"detail": "A request with this Idempotency-Key is still in progress."},
                status=status.HTTP_409_CONFLICT,
            )
        return None, Response(existing.response, status=existing.status_code, headers={REPLAY_HEADER: "true"})
    return None, Response(
        {"detail": "A request with this Idempotency-Key is still in progress."}, status=status.HTTP_409_CONFLICT
    )


def idempotency_complete(record: IdempotencyRecord | None, *, status_code: int, body: dict[str, Any]) -> None:
    """Store the response. Call inside the transaction of the send itself."""
    if record is None:
        return
    record.status_code = status_code
    record.response = body
    record.save(update_fields=["status_code", "response"])


def idempotent(request: Request, handler: Handler) -> Response:
    """Run handler(record) once per (sender, Idempotency-Key); without the header, just run it."""
    key = idempotency_key_get(request)
    if key is None:
        return handler(None)
    record, early = _claim(sender=request.user, key=key, digest=request_hash(request))
    if early is not None:
        return early
    assert record is not None
    try:
        response = handler(record)
    except BaseException:
        IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
        raise
    if response.status_code >= 300:
        IdempotencyRecord.objects.filter(pk=record.pk, status_code__isnull=True).delete()
    return response
