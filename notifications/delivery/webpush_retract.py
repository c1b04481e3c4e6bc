"""Closing web pushes already shown for retracted sends: a small "retract" push to each device that was sent one.

The service worker (static/notifications/sw.js) finds the shown notification by its tag and closes it if its id is
one of the message's. The message carries only ids and tags (a private category's tag is already a keyed digest,
delivery/base.push_group_key): nothing of the content. Best effort, one attempt per device: a retraction has already
taken the notification out of every inbox, and a lost message leaves at most a stale system notification whose click
opens the center, where it no longer is.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Sequence

import requests
from django.conf import settings
from pywebpush import WebPushException, webpush

from ..models import Delivery, DeliveryChannel, DeliveryStatus
from ..outbound import UnsafeEndpoint, endpoint_check
from ..selectors import devices
from .base import push_group_key_of
from .webpush import _authorization, _session

logger = logging.getLogger(__name__)

# Notifications per retract message: ids and tags of at most this many keep the payload far below the 4 KB limit.
RETRACT_MESSAGE_MAX = 10


def webpush_retract_payloads(*, content_ids: Sequence[int]) -> dict[int, list[dict[str, object]]]:
    """device pk -> retract messages ({"type": "retract", "notifications": [{"id", "tag"}, ...]}) for every web push
    sent for these sends. Two queries whatever the audience."""
    sent = (
        Delivery.objects.filter(
            notification__content_id__in=list(content_ids),
            channel=DeliveryChannel.WEBPUSH,
            status=DeliveryStatus.SENT,
        )
        .select_related("notification__content", "notification__category")
        .order_by("pk")
    )
    shown: dict[int, list[dict[str, str]]] = defaultdict(list)
    for delivery in sent:
        if not delivery.target.isdigit():
            continue
        n = delivery.notification
        tag = push_group_key_of(n.content, n.category) or str(n.uuid)  # exactly webpush_payload's tag
        shown[int(delivery.target)].append({"id": str(n.uuid), "tag": tag})
    return {
        device: [
            {"type": "retract", "notifications": items[i : i + RETRACT_MESSAGE_MAX]}
            for i in range(0, len(items), RETRACT_MESSAGE_MAX)
        ]
        for device, items in shown.items()
    }


def webpush_retractions_send(*, content_ids: Sequence[int]) -> int:
    """Send the retract messages of these (retracted) sends to the active devices that were pushed them. Returns
    how many messages were accepted by the push services."""
    payloads = webpush_retract_payloads(content_ids=content_ids)
    if not payloads:
        return 0
    accepted = 0
    for device in devices(DeliveryChannel.WEBPUSH).filter(pk__in=list(payloads), active=True):
        for payload in payloads[device.pk]:
            accepted += _send(device, payload)
    return accepted


def _send(device: object, payload: dict[str, object]) -> int:
    registration_id: str = getattr(device, "registration_id", "")
    try:
        endpoint_check(registration_id, resolve=True)
    except UnsafeEndpoint as exc:
        logger.warning("web push retract: device %s refused: %s", getattr(device, "pk", None), exc)
        return 0
    subscription = {
        "endpoint": registration_id,
        "keys": {"p256dh": getattr(device, "p256dh", ""), "auth": getattr(device, "auth", "")},
    }
    try:
        webpush(
            subscription,
            data=json.dumps(payload, separators=(",", ":")),
            ttl=settings.DELIVERY_PUSH_TTL,
            headers={"Urgency": "normal", **_authorization(registration_id)},
            timeout=settings.DELIVERY_PUSH_TIMEOUT,
            requests_session=_session(),
        )
    except (WebPushException, requests.RequestException, ValueError, TypeError) as exc:
        logger.warning("web push retract to device %s failed: %s", getattr(device, "pk", None), type(exc).__name__)
        return 0
    return 1
