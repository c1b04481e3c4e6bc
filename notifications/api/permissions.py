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


NOTIFICATION_PERMS = (SEND_PERMISSION, BROADCAST_PERMISSION)


def notification_perms_load(user: Any) -> frozenset[str] | None:
    """Which of NOTIFICATION_PERMS the user holds, in one query (ModelBackend's rule: superuser, or the permission
    through the user or one of their groups); None when another backend decides (asked per check instead)."""
    if list(settings.AUTHENTICATION_BACKENDS) != [MODEL_BACKEND]:
        return None
    if not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(NOTIFICATION_PERMS)
    codenames = {perm.split(".", 1)[1] for perm in NOTIFICATION_PERMS}
    held = (
        Permission.objects.filter(content_type__app_label="notifications", codename__in=codenames)
        .filter(Q(user=user) | Q(group__user=user))
        .values_list("codename", flat=True)
    )
    return frozenset(f"notifications.{codename}" for codename in held)


def _has_perm(user: Any, perm: str) -> bool:
    """`user.has_perm(perm)`: from the permissions the token authentication loaded with the user when it did (one
    query per token and process, not per request), else loaded now. Producers ask on every send."""
    held = getattr(user, "notification_perms", None)
    if held is None and perm in NOTIFICATION_PERMS:
        held = notification_perms_load(user)
    if held is None:
        return bool(user.has_perm(perm))
    return perm in held


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
