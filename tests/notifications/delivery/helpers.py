"""Small helpers of the delivery tests."""

from datetime import timedelta

from django.utils import timezone

from notifications.delivery.machine import deliveries_send
from notifications.models import Delivery


def deliveries_of(result, **filters) -> list[Delivery]:
    return list(Delivery.objects.filter(notification__content=result.content, **filters).order_by("pk"))


def send_now(deliveries: list[Delivery]) -> dict[str, int]:
    """Time has come for these rows: make them due and run the state machine on them (as a worker would)."""
    ids = [d.pk for d in deliveries]
    Delivery.objects.filter(pk__in=ids).update(due_at=timezone.now() - timedelta(seconds=1))
    return deliveries_send(delivery_ids=ids)


def reload(delivery: Delivery) -> Delivery:
    return Delivery.objects.get(pk=delivery.pk)
