"""The user's group mutes (preferences.GroupMute): GET/POST /api/v1/preferences/mutes/, DELETE .../mutes/<id>/.

A muted group's new notifications are still stored (history stays complete), read and marked `muted`: no badge,
toast, email or push. Another user's mute answers 404, like a missing one.
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from preferences import selectors as preference_selectors
from preferences import services as preference_services

from ..validation import SEQ_MAX, query_int
from .devices import StrictCharField
from .permissions import request_user
from .serializers import ExternalDateTimeField, GroupMuteSerializer
from .views import E400, E401, E403, E404


class GroupMuteCreateSerializer(serializers.Serializer):
    group_key = StrictCharField(max_length=preference_services.GROUP_KEY_MAX, help_text="The group_key to mute.")
    category = StrictCharField(
        required=False, allow_null=True, max_length=50, help_text="Only in this category (slug); default: every one."
    )
    until = ExternalDateTimeField(required=False, allow_null=True, help_text="Until then; null or absent: forever.")
    duration = serializers.ChoiceField(
        choices=list(preference_services.MUTE_DURATIONS),
        required=False,
        allow_null=True,
        help_text="Instead of until: 8 hours, a week, or forever.",
    )


class GroupMuteList(serializers.Serializer):
    results = GroupMuteSerializer(many=True)


class GroupMuteListView(APIView):
    @extend_schema(
        operation_id="preferences_mutes_list",
        summary="The user's group mutes in force, newest first",
        tags=["preferences"],
        responses={200: GroupMuteList, 401: E401},
    )
    def get(self, request: Request) -> Response:
        mutes = preference_selectors.group_mute_list(user=request_user(request), at=timezone.now())
        return Response({"results": [preference_selectors.group_mute_doc(m) for m in mutes]})

    @extend_schema(
        operation_id="preferences_mutes_create",
        summary="Mute a group (for 8 hours, a week, until a time, or forever); muting it again replaces the end",
        description="201 when created, 200 when an existing mute of the same group and category was replaced. "
        "Unknown category, a past `until`, or both `until` and `duration`: 400, nothing written.",
        tags=["preferences"],
        request=GroupMuteCreateSerializer,
        responses={200: GroupMuteSerializer, 201: GroupMuteSerializer, 400: E400, 401: E401, 403: E403},
    )
    def post(self, request: Request) -> Response:
        serializer = GroupMuteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        mute, created = preference_services.group_mute_create(
            user=request_user(request),
            group_key=data["group_key"],
            category=data.get("category"),
            until=data.get("until"),
            duration=data.get("duration"),
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(preference_selectors.group_mute_doc(mute), status=code)


class GroupMuteDetailView(APIView):
    @extend_schema(
        operation_id="preferences_mutes_destroy",
        summary="Unmute: remove one of the user's group mutes",
        tags=["preferences"],
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={204: OpenApiResponse(description="Removed."), 401: E401, 403: E403, 404: E404},
    )
    def delete(self, request: Request, id: str) -> Response:
        mute_id = query_int(str(id), maximum=SEQ_MAX)
        if mute_id is None or not preference_services.group_mute_delete(user=request_user(request), mute_id=mute_id):
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)
