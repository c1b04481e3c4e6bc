"""One-click unsubscribe (RFC 8058): a signed token names the user and categories; no login needed.

GET shows a confirmation page with a button (link scanners follow GETs: a GET never changes anything); POST, from
that button or from the mail client's `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, turns email off for
exactly those categories. Mandatory categories are never in a token.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from preferences.services import preferences_update

from ..models import Category, ChannelKind

SALT = "notifications.unsubscribe"


def unsubscribe_token(*, user_id: int, category_ids: list[int]) -> str:
    return signing.dumps({"u": user_id, "c": sorted(category_ids)}, salt=SALT, compress=True)


def unsubscribe_url(*, user_id: int, category_ids: list[int]) -> str:
    path = reverse("unsubscribe", kwargs={"token": unsubscribe_token(user_id=user_id, category_ids=category_ids)})
    return settings.SITE_URL.rstrip("/") + path


def unsubscribe_token_read(token: str) -> tuple[int, list[int]] | None:
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    user_id, category_ids = data.get("u"), data.get("c")
    if not isinstance(user_id, int) or not isinstance(category_ids, list):
        return None
    if not all(isinstance(c, int) for c in category_ids):
        return None
    return user_id, category_ids


def email_unsubscribe(*, user: AbstractBaseUser, category_ids: list[int]) -> list[Category]:
    """Turn email off for these categories of this user (mandatory ones stay on). Idempotent."""
    categories = list(Category.objects.filter(pk__in=category_ids, mandatory=False).order_by("label"))
    if categories:
        preferences_update(user=user, channels={c.slug: {ChannelKind.EMAIL: False} for c in categories})
    return categories


@csrf_exempt  # RFC 8058: the mail provider POSTs without a session or CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    parsed = unsubscribe_token_read(token)
    user = get_user_model().objects.filter(pk=parsed[0]).first() if parsed else None
    if parsed is None or user is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    _user_id, category_ids = parsed
    if request.method == "POST":
        categories = email_unsubscribe(user=user, category_ids=category_ids)
        return render(request, "notifications/unsubscribe.html", {"done": True, "categories": categories})
    categories = list(Category.objects.filter(pk__in=category_ids, mandatory=False).order_by("label"))
    return render(request, "notifications/unsubscribe.html", {"categories": categories, "token": token})
