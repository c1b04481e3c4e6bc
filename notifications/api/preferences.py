"""Categories and the user's preferences (contract.md, Categories and preferences)."""

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from preferences import selectors as preference_selectors
from preferences import services as preference_services

from .. import selectors
from . import serializers as s
from .permissions import request_user
from .views import E400, E401, E403

PREFERENCE_FIELDS = ("channels", "quiet_hours", "email_digest", "muted_until", "email_content", "budget")


class CategoryListView(APIView):
    @extend_schema(
        operation_id="categories_list",
        summary="Notification categories",
        tags=["preferences"],
        responses={200: s.CategorySerializer(many=True), 401: E401},
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {
                    "slug": c.slug,
                    "label": c.label,
                    "description": c.description,
                    "default_channels": list(c.default_channels),
                    "default_priority": c.default_priority,
                    "mandatory": c.mandatory,
                }
                for c in selectors.category_list()
            ]
        )


class PreferencesView(APIView):
    @extend_schema(
        operation_id="preferences_retrieve",
        summary="The user's preferences",
        tags=["preferences"],
        responses={200: s.PreferencesSerializer, 401: E401},
    )
    def get(self, request: Request) -> Response:
        return Response(preference_selectors.preferences_get(user=request_user(request)))

    @extend_schema(
        operation_id="preferences_partial_update",
        summary="Change any subset of the preferences (all or nothing)",
        description="Turning off a mandatory category's in_app or email, an unknown category, channel or time zone: "
        "400 naming the field, nothing written. `budget`: null is no limit, else 1..1000 per hour.",
        tags=["preferences"],
        request=s.PreferencesPatchSerializer,
        responses={200: s.PreferencesSerializer, 400: E400, 401: E401, 403: E403},
    )
    def patch(self, request: Request) -> Response:
        data = request.data
        if not isinstance(data, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(str(key) for key in set(data) - set(PREFERENCE_FIELDS))
        if unknown:
            raise ValidationError({key: ["Unknown preference."] for key in unknown})
        preference_services.preferences_update(
            user=request_user(request), **{k: data[k] for k in PREFERENCE_FIELDS if k in data}
        )
        return Response(preference_selectors.preferences_get(user=request_user(request)))
