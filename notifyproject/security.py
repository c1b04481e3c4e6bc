"""Security headers Django's SecurityMiddleware does not set."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin


class NoStoreMiddleware(MiddlewareMixin):
    """`Cache-Control: no-store` on the API and every page served to a logged-in user.

    Personal content (notifications, preferences, the export) must not stay in shared or browser caches.
    MiddlewareMixin makes it async-capable: a sync-only middleware in an ASGI stack makes Django hop between the
    event loop and a thread around it on every request (measured: a third of an API request's CPU).
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        user = getattr(request, "user", None)
        if request.path.startswith("/api/") or (user is not None and user.is_authenticated):
            response["Cache-Control"] = "no-store"
        return response


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """`Content-Security-Policy` on every response (settings.CSP_POLICY; CSP_POLICY_DOCS for the API's docs pages).

    Pages run first-party scripts and styles only: an injected `<script>` or `style` attribute does nothing even if
    escaping ever failed. Sockets may connect to this origin only (CSP3's 'self' covers ws:/wss: of it). Images of
    rich notifications come from producers' https hosts. Swagger UI styles itself through inline styles, so its pages
    get the relaxed docs policy (scripts stay first-party: the split view serves its init script as a file).
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if "Content-Security-Policy" not in response:
            docs = request.path.startswith(settings.CSP_DOCS_PREFIX)
            response["Content-Security-Policy"] = settings.CSP_POLICY_DOCS if docs else settings.CSP_POLICY
        return response
