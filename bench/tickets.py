"""WebSocket tickets for many bench users at once. Imported after django.setup() (bench/rt.py, bench/cluster_rt.py)."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from notifications.models import WsTicket
from notifications.tickets import _digest


def tickets_bulk(user_ids: list[int]) -> list[str]:
    """Single-use tickets, created in one INSERT (ws_ticket_create does two queries per ticket)."""
    expires = timezone.now() + timedelta(seconds=settings.WS_TICKET_TTL)
    tickets = [secrets.token_urlsafe(32) for _ in user_ids]
    WsTicket.objects.bulk_create(
        [WsTicket(digest=_digest(t), user_id=u, expires_at=expires) for t, u in zip(tickets, user_ids, strict=True)]
    )
    return tickets
