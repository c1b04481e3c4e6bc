"""The external delivery channels by name (their devices: selectors.devices)."""

from functools import cache

from ..models import DeliveryChannel as Kind
from ..selectors import PUSH_CHANNELS, devices
from .apns import ApnsChannel
from .base import DeliveryChannel
from .email import EmailChannel
from .fcm import FcmChannel
from .webpush import WebPushChannel

PUSH = PUSH_CHANNELS


@cache
def delivery_channels() -> dict[str, DeliveryChannel]:
    return {
        Kind.EMAIL: EmailChannel(),
        Kind.APNS: ApnsChannel(),
        Kind.FCM: FcmChannel(),
        Kind.WEBPUSH: WebPushChannel(),
    }


def device_deactivate(channel: str, pks: list[int]) -> int:
    """Only the devices a provider called dead (token-level errors); nothing else."""
    if not pks:
        return 0
    return devices(channel).filter(pk__in=pks, active=True).update(active=False)
