"""Who may call what (contract.md, Authentication and authorization)."""

from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.db.models import Q
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


def request_user(request: Request) -> AbstractBaseUser:
    """The authenticated user of a view that requires authentication (IsAuthenticated ran before)."""
    return cast(AbstractBaseUser, request.user)


SEND_PERMISSION = "notifications.send_notification"
BROADCAST_PERMISSION = "notifications.broadcast_notification"


MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _has_perm(user: Any, perm: str) -> bool:
    """`user.has_perm(perm)`; with only Django's ModelBackend, its rule (superuser, or the permission through the
    user or one of their groups) in one query instead of the two it takes. Producers ask on every send."""
    if list(settings.AUTHENTICATION_BACKENDS) != [MODEL_BACKEND]:
        return bool(user.has_perm(perm))
    if user.is_superuser:
        return True
    app_label, codename = perm.split(".", 1)
    return (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .filter(Q(user=user) | Q(group__user=user))
        .exists()
    )


def user_can_send(user: Any) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and (user.is_staff or _has_perm(user, SEND_PERMISSION))
    )


def user_can_broadcast(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and _has_perm(user, BROADCAST_PERMISSION))


class CanSendNotifications(BasePermission):
    """Producers only: `notifications.send_notification` or staff. Everyone else 403 (anonymous 401)."""

    message = "You do not have permission to send notifications."

    def has_permission(self, request: Request, view: Any) -> bool:
        return user_can_send(request.user)
