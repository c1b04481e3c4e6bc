"""A notification's group: GET /api/v1/notifications/<uuid>/group/ (its members) and
POST /api/v1/notifications/<uuid>/group/read/ (read them all). Another user's id is a 404 like a missing one."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import grouping, selectors, services
from ..payloads import notification_payload
from . import serializers as s
from .permissions import request_user
from .views import E401, E403, E404, _notification_or_404

ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Any member's id.")


class NotificationGroupView(APIView):
    @extend_schema(
        operation_id="notifications_group",
        summary="The group a notification is in now (its unread members, newest first); alone: just itself",
        tags=["inbox"],
        parameters=[ID_PARAMETER],
        responses={200: s.NotificationGroupSerializer, 401: E401, 404: E404},
    )
    def get(self, request: Request, id: str) -> Response:
        user = request_user(request)
        notification = _notification_or_404(request, id)
        identity = (notification.category_id, notification.group_key)
        summary = None
        if grouping.is_groupable(notification):
            summary = grouping.group_summaries(user=user, identities=[identity]).get(identity)
        if summary is None:
            summary = grouping.GroupSummary(key=notification.group_key, count=1, member_ids=[notification.uuid])
            summary.actor_count = int(notification.content.actor_id is not None)
            name = notification_payload(notification)["actor_name"]
            summary.actors = [name] if name else []
            members = [notification]
        else:
            members = list(
                selectors.notification_list(user=user, status=selectors.Status.ALL).filter(uuid__in=summary.member_ids)
            )
        return Response({**summary.as_dict(), "members": [notification_payload(n) for n in members]})


class NotificationGroupReadView(APIView):
    @extend_schema(
        operation_id="notifications_group_read",
        summary="Read the notification's group: every unread member up to it (newer members stay unread)",
        tags=["inbox"],
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: s.UpdatedSerializer, 401: E401, 403: E403, 404: E404},
    )
    def post(self, request: Request, id: str) -> Response:
        notification = _notification_or_404(request, id)
        changed = services.notification_group_mark_read(user=request_user(request), id=notification.uuid)
        return Response({"updated": len(changed)})
