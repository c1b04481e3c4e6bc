"""The preferences page (server-rendered; the form posts to the same services as the API)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from notifications.models import Category, ChannelKind

from . import selectors, services


@login_required
def preferences_page(request: HttpRequest) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        categories = list(Category.objects.order_by("slug"))
        channels = {
            c.slug: {ch: f"{c.slug}:{ch}" in request.POST for ch in ChannelKind.values if not (c.mandatory and ch in selectors.MANDATORY_CHANNELS)}
            for c in categories
        }
        try:
            services.preferences_update(user=request.user, channels=channels)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            return redirect("preferences")
    return render(
        request,
        "preferences/preferences.html",
        {
            "categories": Category.objects.order_by("slug"),
            "matrix": selectors.channel_matrix(user=request.user),
            "channel_kinds": ChannelKind.choices,
            "prefs": selectors.preferences_get(user=request.user),
            "errors": errors,
        },
    )
