"""The external delivery channels by name, and where each finds its devices."""

from functools import cache
from typing import Any

from django.db.models import QuerySet
from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice

from ..models import DeliveryChannel as Kind
from .apns import ApnsChannel
from .base import DeliveryChannel
from .email import EmailChannel
from .fcm import FcmChannel
from .webpush import WebPushChannel

PUSH = (Kind.APNS, Kind.FCM, Kind.WEBPUSH)


@cache
def delivery_channels() -> dict[str, DeliveryChannel]:
    return {
        Kind.EMAIL: EmailChannel(),
        Kind.APNS: ApnsChannel(),
        Kind.FCM: FcmChannel(),
        Kind.WEBPUSH: WebPushChannel(),
    }


def devices(channel: str) -> QuerySet[Any]:
    """Every device of a push delivery channel (active or not: callers filter)."""
    if channel == Kind.APNS:
        return APNSDevice.objects.all()
    if channel == Kind.FCM:
        return GCMDevice.objects.filter(cloud_message_type="FCM")
    if channel == Kind.WEBPUSH:
        return WebPushDevice.objects.all()
    raise ValueError(channel)


def device_deactivate(channel: str, pks: list[int]) -> int:
    """Only the devices a provider called dead (token-level errors); nothing else."""
    if not pks:
        return 0
    return devices(channel).filter(pk__in=pks, active=True).update(active=False)
