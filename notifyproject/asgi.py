"""ASGI entry point: Django for HTTP, Channels for WebSockets (served by daphne)."""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notifyproject.settings.base")

# Django must be set up before anything imports models (the consumers do).
django.setup(set_prefix=False)

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from notifications.delivery.scheduler import scheduler_start  # noqa: E402
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

# Everything loaded so far (Django, the URLconf, the apps: ~150,000 objects) lives as long as the process. Frozen, the
# collector stops re-scanning it: a full collection under load went from ~100 ms, every request of the process
# stalled behind it, to ~20 ms, and a request's CPU fell ~10 % (docs/performance.md).
gc.collect()
gc.freeze()
# Each socket keeps ~1,000 container objects alive, so a reconnect storm grows the heap by millions of objects in
# seconds; at the default thresholds (700, 10, 10) the collector re-scanned that growing heap over and over (a
# 3,000-socket storm: 8 full collections, several seconds of the process's ~16 s of CPU). Young garbage is still
# collected every 20,000 allocations; full collections become rare (docs/performance.md, S11).
gc.set_threshold(20_000, 20, 20)
