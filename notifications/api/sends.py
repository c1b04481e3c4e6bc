"""A producer's own sends: read, update and retract them (issue 13), by send id or by Idempotency-Key.

Only the producer that sent it (the user whose token sent it: Content.producer "user:<id>"), or a user with
notifications.manage_any_notification (by send id), finds a send here; for everyone else it does not exist (404,
never 403: a send's existence is not revealed). Idempotency keys are per producer, so by-key lookups are always the
caller's own sends; so is a retraction by group_key.
"""

from typing import Any
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..models import Content, Priority
from ..validation import ACTIONS_MAX, BODY_MAX, GROUP_KEY_MAX, IDEMPOTENCY_KEY_MAX, TITLE_MAX, URL_MAX
from .devices import StrictCharField
from .permissions import request_user
from .serializers import ActionSerializer, validated_data
from .views import E400, E401, E404

MANAGE_ANY_PERMISSION = "notifications.manage_any_notification"
NOT_FOUND = "No send with this id."


class SendUpdateSerializer(serializers.Serializer):
    """Only these keys; any other (category, priority, group_key, recipients, ...) is a 400 and nothing changes.
    The values are checked by the same rules as a send's (notifications.validation)."""

    title = StrictCharField(max_length=TITLE_MAX, required=False, help_text="Plain text.")
    body = StrictCharField(max_length=BODY_MAX, required=False, allow_blank=True, help_text="Plain text.")
    url = StrictCharField(
        max_length=URL_MAX, required=False, allow_blank=True, help_text="http(s) URL or a relative path."
    )
    image_url = StrictCharField(
        max_length=URL_MAX, required=False, allow_blank=True, help_text="http(s) URL or a relative path."
    )
    actions = ActionSerializer(many=True, required=False, max_length=ACTIONS_MAX)  # type: ignore[call-arg]
    data = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Any JSON object of at most 4 KB, returned as is."
    )

    def to_internal_value(self, data: object) -> dict:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {str(key): [f"This field cannot be changed; only {', '.join(self.fields)} can."] for key in unknown}
                )
        return super().to_internal_value(data)


class SendStateSerializer(serializers.Serializer):
    """A send as its producer sees it."""

    id = serializers.UUIDField(help_text="The send id (POST send/ answered it).")
    category = serializers.CharField()
    priority = serializers.ChoiceField(choices=Priority.choices)
    title = serializers.CharField()
    body = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)
    image_url = serializers.CharField(allow_blank=True)
    actions = ActionSerializer(many=True)
    data = serializers.DictField()  # type: ignore[assignment]
    group_key = serializers.CharField(allow_blank=True)
    recipient_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(allow_null=True, help_text="The last update, or null.")
    retracted_at = serializers.DateTimeField(allow_null=True, help_text="When it was retracted, or null.")


class RetractGroupSerializer(serializers.Serializer):
    group_key = StrictCharField(max_length=GROUP_KEY_MAX, help_text="Retract every send of yours with it.")


class RetractGroupResultSerializer(serializers.Serializer):
    sends = serializers.IntegerField(help_text="Sends retracted now (already retracted ones are not counted).")
    notifications = serializers.IntegerField(help_text="Their recipients' notifications.")


class ByKeyQuerySerializer(serializers.Serializer):
    idempotency_key = serializers.CharField(
        max_length=IDEMPOTENCY_KEY_MAX,
        trim_whitespace=False,  # a key is matched exactly, as it was stored
        help_text="The Idempotency-Key the send was made with (yours).",
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _send_state(content: Content) -> dict[str, Any]:
    return {
        "id": str(content.uuid),
        "category": content.category.slug,
        "priority": content.priority,
        "title": content.title,
        "body": content.body,
        "url": content.url,
        "image_url": content.image_url,
        "actions": content.actions,
        "data": content.data,
        "group_key": content.group_key,
        "recipient_count": content.recipient_count,
        "created_at": _iso(content.created_at),
        "updated_at": _iso(content.updated_at),
        "retracted_at": _iso(content.retracted_at),
    }


def _producer(user: AbstractBaseUser) -> str:
    return f"user:{user.pk}"


def _lookup(request: Request, id: str | None) -> dict[str, Any]:
    """send_lookup's arguments for this request: the caller's own send by key, or by id (any producer's with
    notifications.manage_any_notification)."""
    user: Any = request_user(request)  # a PermissionsMixin user (has_perm)
    if id is not None:
        try:
            send_id = UUID(id)
        except ValueError:
            raise NotFound(NOT_FOUND)
        producer = None if user.has_perm(MANAGE_ANY_PERMISSION) else _producer(user)
        return {"send_id": send_id, "producer": producer}
    key = validated_data(ByKeyQuerySerializer, request.query_params.dict())["idempotency_key"]
    return {"idempotency_key": key, "producer": _producer(user)}


def _send_or_404(lookup: dict[str, Any]) -> Content:
    try:
        return services.send_lookup(**lookup)
    except Content.DoesNotExist:
        raise NotFound(NOT_FOUND)


ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The send id.")
E409 = {409: OpenApiResponse(OpenApiTypes.OBJECT, description="The send was retracted: it cannot be updated.")}


class _SendView(APIView):
    by_key = False

    def _lookup(self, request: Request, id: str | None) -> dict[str, Any]:
        return _lookup(request, None if self.by_key else id)

    def _get(self, request: Request, id: str | None = None) -> Response:
        return Response(_send_state(_send_or_404(self._lookup(request, id))))

    def _patch(self, request: Request, id: str | None = None) -> Response:
        lookup = self._lookup(request, id)
        _send_or_404(lookup)  # 404 before a 400: another producer's send is not there, whatever the body
        changes = validated_data(SendUpdateSerializer, request.data)
        try:
            content = services.notification_update(**lookup, **changes)
        except Content.DoesNotExist:
            raise NotFound(NOT_FOUND)
        except services.SendRetracted as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(_send_state(content))

    def _retract(self, request: Request, id: str | None = None) -> Response:
        lookup = self._lookup(request, id)
        content = _send_or_404(lookup)
        services.contents_retract(content_ids=[content.pk])
        content.refresh_from_db(fields=["retracted_at"])
        return Response(_send_state(content))


class SendDetailView(_SendView):
    @extend_schema(
        operation_id="sends_retrieve",
        summary="One of your sends (its current content, updated_at, retracted_at)",
        tags=["send"],
        parameters=[ID_PARAMETER],
        responses={200: SendStateSerializer, 401: E401, 404: E404},
    )
    def get(self, request: Request, id: str) -> Response:
        return self._get(request, id)

    @extend_schema(
        operation_id="sends_partial_update",
        summary="Update a send: every recipient's open sockets get the new content; pending email/push use it",
        tags=["send"],
        parameters=[ID_PARAMETER],
        request=SendUpdateSerializer,
        responses={200: SendStateSerializer, 400: E400, 401: E401, 404: E404, **E409},
    )
    def patch(self, request: Request, id: str) -> Response:
        return self._patch(request, id)


class SendRetractView(_SendView):
    @extend_schema(
        operation_id="sends_retract",
        summary="Retract a send: out of every inbox and badge, pending email/push skipped, shown web pushes closed",
        tags=["send"],
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: SendStateSerializer, 401: E401, 404: E404},
    )
    def post(self, request: Request, id: str) -> Response:
        return self._retract(request, id)


BY_KEY_PARAMETERS = [ByKeyQuerySerializer]


class SendByKeyView(_SendView):
    by_key = True

    @extend_schema(
        operation_id="sends_by_key_retrieve",
        summary="One of your sends, by the Idempotency-Key it was made with",
        tags=["send"],
        parameters=BY_KEY_PARAMETERS,
        responses={200: SendStateSerializer, 400: E400, 401: E401, 404: E404},
    )
    def get(self, request: Request) -> Response:
        return self._get(request)

    @extend_schema(
        operation_id="sends_by_key_partial_update",
        summary="Update one of your sends, by the Idempotency-Key it was made with",
        tags=["send"],
        parameters=BY_KEY_PARAMETERS,
        request=SendUpdateSerializer,
        responses={200: SendStateSerializer, 400: E400, 401: E401, 404: E404, **E409},
    )
    def patch(self, request: Request) -> Response:
        return self._patch(request)


class SendByKeyRetractView(_SendView):
    by_key = True

    @extend_schema(
        operation_id="sends_by_key_retract",
        summary="Retract one of your sends, by the Idempotency-Key it was made with",
        tags=["send"],
        parameters=BY_KEY_PARAMETERS,
        request=None,
        responses={200: SendStateSerializer, 400: E400, 401: E401, 404: E404},
    )
    def post(self, request: Request) -> Response:
        return self._retract(request)


class RetractGroupView(APIView):
    @extend_schema(
        operation_id="notifications_retract_group",
        summary="Retract every one of your sends with this group_key",
        tags=["send"],
        request=RetractGroupSerializer,
        responses={200: RetractGroupResultSerializer, 400: E400, 401: E401},
    )
    def post(self, request: Request) -> Response:
        group_key = validated_data(RetractGroupSerializer, request.data)["group_key"]
        result = services.notifications_retract_group(group_key=group_key, producer=_producer(request_user(request)))
        return Response({"sends": result.sends, "notifications": result.notifications})
