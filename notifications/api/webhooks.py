"""Webhook endpoints over the API (docs/webhooks.md): staff holding `notifications.manage_webhooks` register the
endpoints of their own producer token. Everyone else: 403. Another producer's endpoint: 404, like a missing one.

The secret is in the creation response only; every other response shows it masked.
"""

from typing import Any
from uuid import UUID

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import webhooks
from ..models import WebhookEndpoint, WebhookEventType
from .devices import StrictCharField
from .permissions import request_user
from .views import E400, E401, E403, E404

MANAGE_PERMISSION = "notifications.manage_webhooks"


def user_can_manage_webhooks(user: Any) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and user.is_staff and user.has_perm(MANAGE_PERMISSION)
    )


class CanManageWebhooks(BasePermission):
    """Staff with `notifications.manage_webhooks` only (superusers have it). Everyone else 403 (anonymous 401)."""

    message = "Managing webhooks needs a staff account with notifications.manage_webhooks."

    def has_permission(self, request: Request, view: Any) -> bool:
        return user_can_manage_webhooks(request.user)


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only (DRF's BooleanField also takes "yes", 1, "on")."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


EVENTS_HELP = "Event types to receive (notification.retracted: the producer retracted a send, one per recipient)."


class WebhookEndpointSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    url = serializers.CharField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEventType.choices))
    active = serializers.BooleanField()
    disabled_reason = serializers.CharField(help_text="Why it was disabled (sustained failure), else empty.")
    disabled_at = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    secret = serializers.CharField(source="secret_masked", help_text="Masked; shown in full only when created.")
    created_at = serializers.DateTimeField()


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="The signing secret, in full: shown this once, store it now.")  # type: ignore[assignment]


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2000, help_text="https URL at a public address; redirects are not followed.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices), min_length=1, help_text=EVENTS_HELP
    )
    description = StrictCharField(max_length=200, required=False, allow_blank=True)


class WebhookEndpointPatchSerializer(serializers.Serializer):
    url = StrictCharField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices), min_length=1, required=False
    )
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    active = StrictBooleanField(required=False, help_text="true enables a disabled endpoint (failures reset).")


class WebhookList(serializers.Serializer):
    results = WebhookEndpointSerializer(many=True)


def _body(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    data = dict(WebhookEndpointSerializer(endpoint).data)
    if secret is not None:
        data["secret"] = secret
    return data


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class WebhookView(APIView):
    permission_classes = [IsAuthenticated, CanManageWebhooks]

    def endpoint(self, request: Request, id: str) -> WebhookEndpoint:
        try:
            uuid = UUID(str(id))
        except ValueError:
            raise NotFound() from None
        endpoint = WebhookEndpoint.objects.filter(uuid=uuid, producer_id=request_user(request).pk).first()
        if endpoint is None:
            raise NotFound()
        return endpoint


class WebhookListView(WebhookView):
    @extend_schema(
        operation_id="webhooks_list",
        summary="The caller's webhook endpoints",
        tags=["webhooks"],
        responses={200: WebhookList, 401: E401, 403: E403},
    )
    def get(self, request: Request) -> Response:
        endpoints = WebhookEndpoint.objects.filter(producer_id=request_user(request).pk).order_by("pk")[:1000]
        return Response({"results": [_body(e) for e in endpoints]})

    @extend_schema(
        operation_id="webhooks_create",
        summary="Register a webhook endpoint for the caller's sends (the secret is in this response only)",
        tags=["webhooks"],
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointCreatedSerializer, 400: E400, 401: E401, 403: E403},
    )
    def post(self, request: Request) -> Response:
        data = _valid(WebhookEndpointCreateSerializer, request.data)
        endpoint, secret = webhooks.webhook_endpoint_create(
            producer=request_user(request),
            url=data["url"],
            events=data["events"],
            description=data.get("description", ""),
        )
        return Response(_body(endpoint, secret), status=status.HTTP_201_CREATED)


ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class WebhookDetailView(WebhookView):
    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="One of the caller's webhook endpoints",
        tags=["webhooks"],
        parameters=[ID],
        responses={200: WebhookEndpointSerializer, 401: E401, 403: E403, 404: E404},
    )
    def get(self, request: Request, id: str) -> Response:
        return Response(_body(self.endpoint(request, id)))

    @extend_schema(
        operation_id="webhooks_partial_update",
        summary="Change the URL, events, description, or enable/disable",
        tags=["webhooks"],
        parameters=[ID],
        request=WebhookEndpointPatchSerializer,
        responses={200: WebhookEndpointSerializer, 400: E400, 401: E401, 403: E403, 404: E404},
    )
    def patch(self, request: Request, id: str) -> Response:
        endpoint = self.endpoint(request, id)
        data = _valid(WebhookEndpointPatchSerializer, request.data)
        endpoint = webhooks.webhook_endpoint_update(endpoint=endpoint, **data)
        return Response(_body(endpoint))

    @extend_schema(
        operation_id="webhooks_destroy",
        summary="Remove a webhook endpoint",
        tags=["webhooks"],
        parameters=[ID],
        responses={204: OpenApiResponse(description="Deleted."), 401: E401, 403: E403, 404: E404},
    )
    def delete(self, request: Request, id: str) -> Response:
        webhooks.webhook_endpoint_delete(endpoint=self.endpoint(request, id))
        return Response(status=status.HTTP_204_NO_CONTENT)
