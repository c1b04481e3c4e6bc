"""GET /api/v1/notifications/<uuid>/why/: "why did I get this?" for one of the user's own notifications."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..explain import notification_explain
from ..models import DeliveryChannel, DeliveryStatus, Priority
from .permissions import request_user
from .serializers import GroupMuteSerializer
from .views import E401, E404, _notification_or_404

HELD_HELP = "Why it was due later than the send (budget: in the digest, past the user's budget)."
HELD_BY = ["budget", "digest", "escalation", "do_not_disturb", "quiet_hours", "deferred"]


class _CategorySerializer(serializers.Serializer):
    slug = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label (popped by DRF)
    mandatory = serializers.BooleanField()
    private = serializers.BooleanField(help_text="Push and email of this category never carry its content.")


class _SenderSerializer(serializers.Serializer):
    producer = serializers.CharField(help_text="Who sent it: the producing app or user.")
    actor = serializers.IntegerField(allow_null=True, help_text="The user the notification is about, if any.")


class _ChannelSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    source = serializers.ChoiceField(["mandatory", "your_setting", "category_default"])  # type: ignore[assignment]


class _ChannelsSerializer(serializers.Serializer):
    in_app = _ChannelSerializer()
    email = _ChannelSerializer()
    push = _ChannelSerializer()


class _DeliverySerializer(serializers.Serializer):
    channel = serializers.ChoiceField(DeliveryChannel.choices)
    status = serializers.ChoiceField(DeliveryStatus.choices)
    due_at = serializers.DateTimeField()
    held_by = serializers.ChoiceField(HELD_BY, allow_null=True, help_text=HELD_HELP)
    sent_at = serializers.DateTimeField(allow_null=True)
    skip_reason = serializers.CharField(allow_null=True)
    attempts = serializers.IntegerField(min_value=0)


class ExplanationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    category = _CategorySerializer()
    priority = serializers.ChoiceField(Priority.choices)
    sender = _SenderSerializer()
    channels = _ChannelsSerializer()
    planning = serializers.ChoiceField(["pending", "done"], help_text="Email/push planning runs after the send.")
    group_key = serializers.CharField(allow_blank=True)
    muted = serializers.BooleanField(help_text="It came in while its group was muted: no badge, email or push.")
    mute = GroupMuteSerializer(allow_null=True, help_text="The mute that covers its group now, if any.")
    deliveries = _DeliverySerializer(many=True)


class NotificationExplainView(APIView):
    @extend_schema(
        operation_id="notifications_why",
        summary="Why the user got this notification: channel settings, sender, what happened to email and push",
        tags=["inbox"],
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: ExplanationSerializer, 401: E401, 404: E404},
    )
    def get(self, request: Request, id: str) -> Response:
        notification = _notification_or_404(request, id)
        return Response(notification_explain(user=request_user(request), notification=notification))
