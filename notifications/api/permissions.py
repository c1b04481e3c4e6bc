"""Who may call what (contract.md, Authentication and authorization)."""

from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


def request_user(request: Request) -> AbstractBaseUser:
    """The authenticated user of a view that requires authentication (IsAuthenticated ran before)."""
    return cast(AbstractBaseUser, request.user)


SEND_PERMISSION = "notifications.send_notification"
BROADCAST_PERMISSION = "notifications.broadcast_notification"


def user_can_send(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and (user.is_staff or user.has_perm(SEND_PERMISSION)))


def user_can_broadcast(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(BROADCAST_PERMISSION))


class CanSendNotifications(BasePermission):
    """Producers only: `notifications.send_notification` or staff. Everyone else 403 (anonymous 401)."""

    message = "You do not have permission to send notifications."

    def has_permission(self, request: Request, view: Any) -> bool:
        return user_can_send(request.user)
