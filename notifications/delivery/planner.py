"""The seam between a send and its external deliveries.

`deliveries_plan` runs inside the send's transaction and creates the Delivery rows the delivery policy allows;
`deliveries_cancel` runs when notifications are read, so nothing is sent about what the user already saw.
"""

from collections.abc import Sequence

from django.utils import timezone

from ..models import Category, Content, Delivery, DeliveryStatus, Notification


def deliveries_plan(*, content: Content, category: Category, notifications: Sequence[Notification]) -> int:
    """Create Delivery rows for the recipients' allowed external channels. Returns how many were created.

    Email/push planning lands with the delivery work (issue 5); until then in-app is the only channel.
    """
    return 0


def deliveries_cancel(*, notification_ids: Sequence[int], reason: str) -> int:
    """Pending or retrying deliveries of these notifications become skipped(reason)."""
    if not notification_ids:
        return 0
    return Delivery.objects.filter(
        notification_id__in=notification_ids, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    ).update(status=DeliveryStatus.SKIPPED, skip_reason=reason, updated_at=timezone.now())
