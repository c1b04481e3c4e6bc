"""ASGI entry point: Django for HTTP, Channels for WebSockets (served by daphne)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notifyproject.settings.base")

# Django must be set up before anything imports models (the consumers do).
django.setup(set_prefix=False)

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from notifications.delivery.scheduler import scheduler_start  # noqa: E402
from notifyproject.heap import heap_settle  # noqa: E402
from notifyproject.http import HttpHandler  # noqa: E402

django_asgi_app = HttpHandler(threads=settings.HTTP_THREADS)
from notifications.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        # One process serves its own static files (no build step, no extra server); a CDN can front it.
        "http": ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app,
        "websocket": websocket_application,
    }
)

# Embedded mode only (no REDIS_URL): delayed and periodic delivery work runs in this process.
scheduler_start()

# Start-up is done: freeze its heap, make full collections rare (notifyproject.heap says why).
heap_settle()
