"""WebSocket tickets: `POST /api/v1/ws-tickets/` issues one, the socket handshake consumes it (single use, 60 s)."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import WsTicket


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


@transaction.atomic
def ws_ticket_create(*, user_id: int) -> str:
    """A new ticket for the user. Expired tickets are purged here, so the table stays tiny without a job."""
    now = timezone.now()
    WsTicket.objects.filter(expires_at__lt=now).delete()
    ticket = secrets.token_urlsafe(32)
    WsTicket.objects.create(
        digest=_digest(ticket), user_id=user_id, expires_at=now + timedelta(seconds=settings.WS_TICKET_TTL)
    )
    return ticket


@transaction.atomic
def ws_ticket_consume(*, ticket: str) -> int | None:
    """The user id of a valid ticket, which is deleted: of two concurrent handshakes with it, exactly one wins."""
    if not ticket or len(ticket) > 200:
        return None
    row = WsTicket.objects.filter(digest=_digest(ticket)).values_list("pk", "user_id", "expires_at").first()
    if row is None:
        return None
    pk, user_id, expires_at = row
    deleted, _ = WsTicket.objects.filter(pk=pk).delete()
    if deleted != 1 or expires_at <= timezone.now():
        return None
    return user_id
