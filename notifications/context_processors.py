"""The header bell's data (unread count, latest items, last seq) for every page of a logged-in user."""

from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from . import grouping, selectors

BELL_LATEST = 8


def _bell(request: HttpRequest) -> dict[str, Any]:
    user = cast(AbstractBaseUser, request.user)
    # Before the reads: what this page shows is current as of then (the live module's first changed_since).
    rendered_at = timezone.now().isoformat()
    return {
        "rendered_at": rendered_at,
        # Each group counted once, as the grouped center and dropdown show them.
        "unread_count": grouping.notification_unread_groups(user=user),
        "unseen_count": grouping.notification_unseen_groups(user=user),
        # The seq this page was rendered at: the live module resumes from here (nothing rendered is replayed).
        "last_seq": selectors.notification_last_seq(user=user),
        "latest": grouping.notification_items_grouped(
            user=user,
            page=list(grouping.notifications_grouped(selectors.notification_list(user=user), user=user)[:BELL_LATEST]),
        ),
    }


def bell(request: HttpRequest) -> dict[str, Any]:
    """Lazy: pages that do not render the bell (admin, login) run no query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"bell": SimpleLazyObject(lambda: _bell(request))}
