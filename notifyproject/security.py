"""Security headers Django's SecurityMiddleware does not set."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class NoStoreMiddleware:
    """`Cache-Control: no-store` on the API and every page served to a logged-in user.

    Personal content (notifications, preferences, the export) must not stay in shared or browser caches.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if request.path.startswith("/api/") or (user is not None and user.is_authenticated):
            response["Cache-Control"] = "no-store"
        return response
