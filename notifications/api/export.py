"""GET /api/v1/me/export/: everything the service keeps about the caller (data portability), tokens masked."""

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from preferences.selectors import group_mute_doc, group_mute_list, preferences_get

from .. import selectors
from ..models import DeliveryChannel
from ..payloads import notification_payload
from . import serializers as s
from .permissions import request_user
from .throttling import ExportRateThrottle
from .views import E401, E429_USER

EXPORT_CHUNK = 2000


def token_mask(token: str | None) -> str:
    """Enough to recognise a device, not enough to push to it."""
    token = token or ""
    return "…" + token[-4:] if len(token) > 8 else "…"


def _devices(channel: str, user: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": d.pk,
            "name": d.name,
            "registration_id": token_mask(d.registration_id),
            "active": d.active,
            "date_created": d.date_created.isoformat() if d.date_created else None,
        }
        for d in selectors.device_list_of(user=user, channel=channel)
    ]


class ExportView(APIView):
    throttle_classes = [ExportRateThrottle]

    @extend_schema(
        operation_id="me_export",
        summary="Export the caller's notifications, preferences and devices",
        tags=["me"],
        responses={200: s.ExportSerializer, 401: E401, 429: E429_USER},
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)
        notifications = selectors.notification_list(user=user, status=selectors.Status.ALL).order_by("seq")
        return Response(
            {
                "user": {"id": user.pk, "username": user.get_username(), "email": getattr(user, "email", "") or ""},
                "notifications": [notification_payload(n) for n in notifications.iterator(chunk_size=EXPORT_CHUNK)],
                "preferences": preferences_get(user=user),
                "devices": {
                    "apns": _devices(DeliveryChannel.APNS, user),
                    "fcm": _devices(DeliveryChannel.FCM, user),
                    "webpush": _devices(DeliveryChannel.WEBPUSH, user),
                },
                "mutes": [group_mute_doc(m) for m in group_mute_list(user=user, at=timezone.now())],
            }
        )
