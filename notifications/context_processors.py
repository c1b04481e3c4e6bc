"""The header bell's data (unread count, latest items, last seq) for every page of a logged-in user."""

from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from . import selectors
from .payloads import notification_item

BELL_LATEST = 8


def _bell(request: HttpRequest) -> dict[str, Any]:
    user = cast(AbstractBaseUser, request.user)
    return {
        "unread_count": selectors.notification_unread_count(user=user),
        "unseen_count": selectors.notification_unseen_count(user=user),
        # The seq this page was rendered at: the live module resumes from here (nothing rendered is replayed).
        "last_seq": selectors.notification_last_seq(user=user),
        "latest": [notification_item(n) for n in selectors.notification_list(user=user)[:BELL_LATEST]],
    }


def bell(request: HttpRequest) -> dict[str, Any]:
    """Lazy: pages that do not render the bell (admin, login) run no query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"bell": SimpleLazyObject(lambda: _bell(request))}
