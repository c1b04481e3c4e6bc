"""`POST /api/v1/ws-tickets/`: a single-use ticket for `/ws/notifications/?ticket=...` (token clients)."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..tickets import ws_ticket_create
from .throttling import WsTicketRateThrottle


class WsTicketCreateView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [WsTicketRateThrottle]

    @extend_schema(
        request=None,
        responses={
            201: inline_serializer(
                "WsTicket", fields={"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()}
            ),
            429: OpenApiResponse(description="Rate limit (WS_TICKET_RATE); see the Retry-After header."),
        },
    )
    def post(self, request: Request) -> Response:
        user_id = request.user.pk
        assert user_id is not None  # IsAuthenticated
        ticket = ws_ticket_create(user_id=user_id)
        return Response({"ticket": ticket, "expires_in": settings.WS_TICKET_TTL}, status=status.HTTP_201_CREATED)
