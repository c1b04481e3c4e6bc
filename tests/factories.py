"""Factories for tests, in one place."""

from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

PASSWORD = "test-pass-123"


def make_user(username: str, *, perms: Sequence[str] = (), **extra: Any):
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD, **extra
    )
    if perms:
        user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    return user


def make_users(count: int, prefix: str = "user") -> list:
    User = get_user_model()
    User.objects.bulk_create([User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com") for i in range(count)])
    return list(User.objects.filter(username__startswith=prefix).order_by("pk"))


def send(recipients, *, plan: bool = True, **overrides: Any):
    """notify() with defaults; then, unless plan=False, what the planner worker does after commit (tests run in one
    transaction, so the commit never comes)."""
    from notifications.delivery.planner import deliveries_plan_pending
    from notifications.services import notify

    values: dict[str, Any] = {"category": "comment", "title": "Hello"}
    values.update(overrides)
    result = notify(recipients=recipients, **values)
    if plan:
        deliveries_plan_pending()
    return result
