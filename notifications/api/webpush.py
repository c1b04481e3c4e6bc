"""GET /api/v1/webpush/public-key/: the VAPID application server key browsers subscribe with."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..delivery.vapid import vapid_keys


class WebPushPublicKeyView(APIView):
    # A public key: the service worker may ask before the page knows who is logged in.
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer("WebPushPublicKey", fields={"public_key": serializers.CharField()}),
        summary="VAPID public key (base64url) for PushManager.subscribe()",
    )
    def get(self, request: Request) -> Response:
        return Response({"public_key": vapid_keys().public_key})
