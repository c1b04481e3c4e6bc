"""Send and inbox endpoints (contract.md, REST API). Thin: parse, call one service or selector, render.

Every inbox query goes through selectors with user=request_user(request): another user's notification is a 404, exactly
like a missing one.
"""

import contextlib
from typing import Any
from uuid import UUID

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import grouping, selectors, services
from ..models import Category, Notification
from ..payloads import notification_payload
from ..validation import send_fields
from . import serializers as s
from .idempotency import HEADER, REPLAY_HEADER, idempotency_complete, idempotent
from .pagination import SeqCursorPagination
from .permissions import CanSendNotifications, request_user, user_can_broadcast
from .throttling import SenderRateThrottle

# --- Documented error responses -----------------------------------------------------------------------------------

E400 = OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid input: DRF error body naming each bad field.")
E401 = OpenApiResponse(s.ErrorSerializer, description="Not authenticated.")
E403 = OpenApiResponse(s.ErrorSerializer, description="Not allowed.")
E404 = OpenApiResponse(s.ErrorSerializer, description="Not found (or not yours).")
E409 = OpenApiResponse(s.ErrorSerializer, description="The same Idempotency-Key is still in flight.")
E409_DEVICE = OpenApiResponse(s.ErrorSerializer, description="The same device is being registered concurrently.")
E422 = OpenApiResponse(s.ErrorSerializer, description="Idempotency-Key reused with a different body.")
E429 = OpenApiResponse(s.ErrorSerializer, description="Sender rate limit; see the Retry-After header.")
E429_USER = OpenApiResponse(s.ErrorSerializer, description="Rate limit of this endpoint; see the Retry-After header.")
AUTH_ERRORS = {401: E401, 403: E403}
SEND_ERRORS = {400: E400, **AUTH_ERRORS, 409: E409, 422: E422, 429: E429}

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="At most 255 characters. Same key + same body: the first response again (nothing new is sent); "
    "same key + other body: 422; same key while the first request runs: 409. Kept at least 24 h.",
)


def _send_body(result: services.SendResult) -> dict[str, Any]:
    body: dict[str, Any] = {"id": str(result.id), "recipient_count": result.recipient_count}
    if result.recipient_count <= s.NOTIFICATION_IDS_MAX:
        body["notification_ids"] = [str(i) for i in result.notification_ids]
    return body


class ProducerView(APIView):
    permission_classes = [IsAuthenticated, CanSendNotifications]
    throttle_classes = [SenderRateThrottle]


class NotificationSendView(ProducerView):
    @extend_schema(
        operation_id="notifications_send",
        summary="Send one notification to many recipients",
        tags=["send"],
        request=s.SendSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: s.SendResultSerializer, 202: s.SendQueuedSerializer, **SEND_ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = s.validated_data(s.SendSerializer, request.data)
        if "audience" in data and not user_can_broadcast(request_user(request)):
            raise PermissionDenied("Broadcasting to an audience needs notifications.broadcast_notification.")
        return idempotent(request, lambda record: self._send(request, data, record))

    def _send(self, request: Request, data: dict[str, Any], record: Any) -> Response:
        key = record.key if record is not None else ""
        fields = send_fields(data)
        # The send and its idempotency record commit together; without a record the service's own
        # transaction is the only one (an outer one would cost a savepoint's two round trips).
        # Validation errors and IdempotencyConflict become 400 / 422 in api.exceptions.
        with transaction.atomic() if record is not None else contextlib.nullcontext():
            if "audience" in data:
                result = services.notification_broadcast(
                    audience=data["audience"], actor=request_user(request), idempotency_key=key, **fields
                )
                body: dict[str, Any] = {"id": str(result.id), "status": "queued"}
                code: int = status.HTTP_202_ACCEPTED
            else:
                if "recipient_usernames" in data:
                    recipients = services.usernames_resolve(data["recipient_usernames"])
                else:
                    recipients = data["recipients"]
                result = services.notify(
                    recipients=recipients, actor=request_user(request), idempotency_key=key, **fields
                )
                body = _send_body(result)
                code = status.HTTP_201_CREATED
            idempotency_complete(record, status_code=code, body=body)
        headers = {REPLAY_HEADER: "true"} if result.replayed else {}
        return Response(body, status=code, headers=headers)


class NotificationSendBulkView(ProducerView):
    @extend_schema(
        operation_id="notifications_send_bulk",
        summary="Many sends in one request (up to 1000), all or nothing",
        tags=["send"],
        request=s.SendBulkSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: s.SendBulkResultSerializer, **SEND_ERRORS},
    )
    def post(self, request: Request) -> Response:
        items = s.validated_data(s.SendBulkSerializer, request.data)["notifications"]
        return idempotent(request, lambda record: self._send(request, items, record))

    def _send(self, request: Request, items: list[dict[str, Any]], record: Any) -> Response:
        targets = ("recipients", "recipient_usernames")
        sends = [{**send_fields(item), **{name: item[name] for name in targets if name in item}} for item in items]
        try:
            # The service checks every item before it writes any; the idempotency record commits with the sends.
            with transaction.atomic():
                results = services.notification_send_bulk(sends=sends, actor=request_user(request))
                body = {"ids": [str(r.id) for r in results]}
                idempotency_complete(record, status_code=status.HTTP_201_CREATED, body=body)
        except services.BulkValidationError as exc:
            raise ValidationError({"notifications": [exc.errors.get(index, {}) for index in range(len(items))]})
        return Response(body, status=status.HTTP_201_CREATED)


# --- Inbox -------------------------------------------------------------------------------------------------------


def _notification_or_404(request: Request, id: str) -> Notification:
    try:
        uuid = UUID(id)
    except ValueError:
        raise NotFound("No notification with this id.")
    try:
        return selectors.notification_get(user=request_user(request), id=uuid)
    except Notification.DoesNotExist:
        raise NotFound("No notification with this id.")


def _category_check(slugs: list[str], field: str) -> None:
    if not slugs:
        return
    known = set(Category.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    unknown = sorted(set(slugs) - known)
    if unknown:
        raise ValidationError({field: [f"Unknown category: {', '.join(unknown[:20])}."]})


class NotificationListView(APIView):
    pagination_class = SeqCursorPagination

    @extend_schema(
        operation_id="notifications_list",
        summary="The user's notifications, newest first (after_seq: oldest first)",
        tags=["inbox"],
        parameters=[s.NotificationListQuerySerializer],
        responses={200: s.NotificationListItemSerializer(many=True), 400: E400, 401: E401},
    )
    def get(self, request: Request) -> Response:
        query = s.NotificationListQuerySerializer(
            data={
                **{key: value for key, value in request.query_params.items() if key not in ("category", "priority")},
                "category": request.query_params.getlist("category"),
                "priority": request.query_params.getlist("priority"),
            }
        )
        query.is_valid(raise_exception=True)
        params = query.validated_data
        _category_check(params.get("category", []), "category")
        qs = selectors.notification_list(
            user=request_user(request),
            status=params.get("status", selectors.Status.INBOX),
            categories=params.get("category", ()),
            priorities=params.get("priority", ()),
            since=params.get("since"),
            before=params.get("before"),
            after_seq=params.get("after_seq"),
        )
        grouped = params.get("view") == "grouped"
        if grouped:
            qs = grouping.notifications_grouped(qs, user=request_user(request))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        if not grouped:
            return paginator.get_paginated_response([notification_payload(n) for n in page])
        groups = grouping.page_group_summaries(user=request_user(request), page=page)
        return paginator.get_paginated_response(
            [{**notification_payload(n), "group": groups[n.pk].as_dict() if n.pk in groups else None} for n in page]
        )


class NotificationDetailView(APIView):
    @extend_schema(
        operation_id="notifications_retrieve",
        summary="One of the user's notifications",
        tags=["inbox"],
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: s.NotificationSerializer, 401: E401, 404: E404},
    )
    def get(self, request: Request, id: str) -> Response:
        return Response(notification_payload(_notification_or_404(request, id)))

    @extend_schema(
        operation_id="notifications_partial_update",
        summary="Set read, archived, saved and/or snoozed_until (nothing else)",
        tags=["inbox"],
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        request=s.NotificationPatchSerializer,
        responses={200: s.NotificationSerializer, 400: E400, 401: E401, 403: E403, 404: E404},
    )
    def patch(self, request: Request, id: str) -> Response:
        notification = _notification_or_404(request, id)
        serializer = s.NotificationPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = serializer.validated_data
        if changes:
            with transaction.atomic():
                # Snooze first: waking (null) makes it unread, and a `read` in the same request then applies.
                if "snoozed_until" in changes:
                    services.notification_snooze(
                        user=request_user(request), ids=[notification.uuid], until=changes["snoozed_until"]
                    )
                services.notification_update_state(
                    user=request_user(request),
                    ids=[notification.uuid],
                    read=changes.get("read"),
                    archived=changes.get("archived"),
                    saved=changes.get("saved"),
                )
            notification = _notification_or_404(request, id)
        return Response(notification_payload(notification))


class NotificationMarkAllReadView(APIView):
    @extend_schema(
        operation_id="notifications_mark_all_read",
        summary="Mark everything read (optionally up to a seq, in one category)",
        tags=["inbox"],
        request=s.MarkAllReadSerializer,
        responses={200: s.UpdatedSerializer, 400: E400, 401: E401, 403: E403},
    )
    def post(self, request: Request) -> Response:
        serializer = s.MarkAllReadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        category = data.get("category")
        if category:
            _category_check([category], "category")
        updated = services.notification_mark_all_read(
            user=request_user(request), up_to_seq=data.get("up_to_seq"), category=category or None
        )
        return Response({"updated": updated})


class NotificationMarkSeenView(APIView):
    @extend_schema(
        operation_id="notifications_mark_seen",
        summary="The user has seen the list up to a seq (badge cleared; read state unchanged)",
        tags=["inbox"],
        request=s.MarkSeenSerializer,
        responses={200: s.UpdatedSerializer, 400: E400, 401: E401, 403: E403},
    )
    def post(self, request: Request) -> Response:
        serializer = s.MarkSeenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.notification_mark_seen(
            user=request_user(request), up_to_seq=serializer.validated_data["up_to_seq"]
        )
        return Response({"updated": updated})


class NotificationUnreadCountView(APIView):
    @extend_schema(
        operation_id="notifications_unread_count",
        summary="Unread count, total and by category",
        tags=["inbox"],
        responses={200: s.UnreadCountSerializer, 401: E401},
    )
    def get(self, request: Request) -> Response:
        # One index-only query (count, by_category and groups from the same rows); slugs from the category cache.
        return Response(grouping.notification_unread_totals(user=request_user(request)))
