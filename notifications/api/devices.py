"""Device registration: django-push-notifications' authorized (owner-filtered) viewsets, hardened.

What changes against the library's viewsets:
- a token registered again by another user moves to that user (shared phones): one row per token, never two;
- the serializers expose explicit fields (the FCM serializer's writable `id` is gone: no mass assignment);
- a bad device_id is a 400 (the library raises TypeError on non-string input: a 500);
- a concurrent duplicate registration answers 409, not an IntegrityError.
"""

from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from push_notifications.api import rest_framework as push_api
from push_notifications.fields import UNSIGNED_64BIT_INT_MAX_VALUE
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from ..models import DeliveryChannel
from ..outbound import UnsafeEndpoint, endpoint_check
from ..selectors import devices
from .views import E400, E401, E403, E404, E409_DEVICE

TOKEN_LOOKUP_MAX = 4096
DEVICE_FIELDS = ("id", "name", "application_id", "registration_id", "active", "date_created")


@extend_schema_field({"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{1,16}$", "example": "0x1f"})
class DeviceIdField(serializers.IntegerField):
    """ANDROID_ID as a hex string ("0x1f") or an integer; unsigned 64 bit."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str):
            try:
                data = int(data, 16)
            except ValueError:
                self.fail("invalid")
        elif isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        value = super().to_internal_value(data)
        # SQLite stores it as a signed 64 bit integer; PostgreSQL gets the library's signed cast.
        limit = UNSIGNED_64BIT_INT_MAX_VALUE if connection.vendor == "postgresql" else 2**63 - 1
        if not 0 <= value <= limit:
            raise serializers.ValidationError("Device ID is out of range.")
        return value


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField turns numbers and booleans into text (`"application_id": 6.2e16` was stored)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictText(serializers.ModelSerializer):
    """Model text columns of a device serializer accept JSON strings only, as the schema says."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }


class APNSDeviceSerializer(StrictText, push_api.APNSDeviceSerializer):
    class Meta(push_api.APNSDeviceSerializer.Meta):
        fields = (*DEVICE_FIELDS, "device_id")  # type: ignore[assignment]
        read_only_fields = ("id", "date_created")  # type: ignore[assignment]
        extra_kwargs = {"active": {"default": True}}


class FCMDeviceSerializer(StrictText, push_api.GCMDeviceSerializer):
    device_id = DeviceIdField(  # type: ignore[assignment]
        required=False, allow_null=True, help_text="ANDROID_ID, hex string (e.g. 0x01)."
    )

    class Meta(push_api.GCMDeviceSerializer.Meta):
        fields = (*DEVICE_FIELDS, "device_id")  # type: ignore[assignment]
        read_only_fields = ("id", "date_created")  # type: ignore[assignment]
        extra_kwargs = {"active": {"default": True}}

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if data.get("device_id") is not None and not isinstance(data["device_id"], str):
            data["device_id"] = hex(data["device_id"])
        return data


class WebPushDeviceSerializer(StrictText, push_api.WebPushDeviceSerializer):
    class Meta(push_api.WebPushDeviceSerializer.Meta):
        fields = (*DEVICE_FIELDS, "p256dh", "auth", "browser")
        read_only_fields = ("id", "date_created")  # type: ignore[assignment]
        extra_kwargs = {"active": {"default": True}}

    def validate_registration_id(self, value: str) -> str:
        """The subscription endpoint: somewhere the worker may post to (notifications/outbound.py)."""
        try:
            endpoint_check(value, resolve=False)
        except UnsafeEndpoint as exc:
            raise serializers.ValidationError(f"Not a usable push endpoint: {exc}.") from None
        return value


def _token_usable(token: Any) -> bool:
    """A token worth looking up (PostgreSQL rejects NUL in text: a query with one would be a 500)."""
    return isinstance(token, str) and 0 < len(token) <= TOKEN_LOOKUP_MAX and "\x00" not in token


def _devices_max() -> int:
    return int(settings.DEVICES_PER_USER_MAX)


def _owner_fields_clear(device: Any) -> None:
    """A token moving to another user (a shared or resold phone) keeps nothing its previous owner set."""
    for field in ("name", "application_id", "device_id"):
        if hasattr(device, field):
            setattr(device, field, None)
    device.active = True


class DeviceRegisterMixin:
    """POST registers the token for the caller; the same token from another user moves to the caller."""

    # (A comment, not the docstring: the docstring is the schema's description.) `queryset` is
    # selectors.devices(kind), the devices of this kind that are sent to. A token is looked up among all rows of the
    # model (tokens are unique per model) and a row found is saved with `register_as`, so it becomes one of them: a
    # legacy GCM row registered again through the FCM endpoint becomes an FCM device.
    register_as: dict[str, Any] = {}

    def get_object(self) -> Any:
        if not _token_usable(self.kwargs.get("registration_id")):  # type: ignore[attr-defined]
            raise NotFound()
        return super().get_object()  # type: ignore[misc]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        model = self.queryset.model  # type: ignore[attr-defined]
        token = request.data.get("registration_id") if isinstance(request.data, dict) else None
        try:
            with transaction.atomic():
                instance = (
                    model.objects.select_for_update().filter(registration_id=token).first()
                    if _token_usable(token)
                    else None
                )
                if instance is not None and instance.user_id != request.user.pk:
                    _owner_fields_clear(instance)  # the new owner sees only what they sent
                elif instance is None and self.queryset.filter(user=request.user).count() >= _devices_max():  # type: ignore[attr-defined]
                    raise serializers.ValidationError(
                        {"registration_id": [f"At most {_devices_max()} devices of this kind; remove one first."]}
                    )
                serializer = self.get_serializer(instance, data=request.data)  # type: ignore[attr-defined]
                serializer.is_valid(raise_exception=True)
                serializer.save(user=request.user, **self.register_as)
        except IntegrityError:
            return Response(
                {"detail": "This device is being registered concurrently; retry."}, status=status.HTTP_409_CONFLICT
            )
        return Response(serializer.data, status=status.HTTP_200_OK if instance else status.HTTP_201_CREATED)


def _device_schema(tag: str, serializer: type[serializers.Serializer]) -> Any:
    write = {400: E400, 401: E401, 403: E403}
    return extend_schema_view(
        list=extend_schema(tags=[tag], responses={200: serializer(many=True), 401: E401}),
        create=extend_schema(
            tags=[tag],
            description="Register a device of the caller. The same token registered by another user moves to the "
            "caller (200); a new token: 201.",
            responses={200: serializer, 201: serializer, **write, 409: E409_DEVICE},
        ),
        retrieve=extend_schema(tags=[tag], responses={200: serializer, 401: E401, 404: E404}),
        update=extend_schema(tags=[tag], responses={200: serializer, **write, 404: E404}),
        partial_update=extend_schema(tags=[tag], responses={200: serializer, **write, 404: E404}),
        destroy=extend_schema(
            tags=[tag], responses={204: OpenApiResponse(description="Deleted."), 401: E401, 403: E403, 404: E404}
        ),
    )


@_device_schema("devices", APNSDeviceSerializer)
class APNSDeviceViewSet(DeviceRegisterMixin, push_api.APNSDeviceAuthorizedViewSet):  # type: ignore[misc]
    queryset = devices(DeliveryChannel.APNS)
    serializer_class = APNSDeviceSerializer


@_device_schema("devices", FCMDeviceSerializer)
class FCMDeviceViewSet(DeviceRegisterMixin, push_api.GCMDeviceAuthorizedViewSet):  # type: ignore[misc]
    queryset = devices(DeliveryChannel.FCM)
    register_as = {"cloud_message_type": "FCM"}
    serializer_class = FCMDeviceSerializer


@_device_schema("devices", WebPushDeviceSerializer)
class WebPushDeviceViewSet(DeviceRegisterMixin, push_api.WebPushDeviceAuthorizedViewSet):  # type: ignore[misc]
    queryset = devices(DeliveryChannel.WEBPUSH)
    serializer_class = WebPushDeviceSerializer
