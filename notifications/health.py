"""GET /healthz and GET /metrics: plain Django views (no DRF: load balancers and Prometheus call them)."""

import hmac
from typing import Any

import kombu
import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from .metrics import metrics_render

CHECK_TIMEOUT = 2.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis_ping(url: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()


def _layer_hosts() -> list[str]:
    config: dict[str, Any] = settings.CHANNEL_LAYERS.get("default", {})
    if "redis" not in config.get("BACKEND", "").lower():
        return []  # in-memory layer: lives in this process
    urls = []
    for host in config.get("CONFIG", {}).get("hosts", []):
        if isinstance(host, str):
            urls.append(host)
        elif isinstance(host, dict) and isinstance(host.get("address"), str):
            urls.append(host["address"])
    return urls


def _channel_layer() -> None:
    for url in _layer_hosts():
        _redis_ping(url)


def _broker() -> None:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://", "unix://")):
        _redis_ping(url)
    elif url.startswith(("amqp://", "amqps://", "pyamqp://")):
        with kombu.Connection(url, connect_timeout=CHECK_TIMEOUT) as broker:
            broker.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)


CHECKS = (("database", _database), ("channel_layer", _channel_layer), ("broker", _broker))


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every dependency answers; 503 naming what is down (the value says why).

    `?check=database&check=channel_layer` runs only those: a load balancer's check should leave out the broker, whose
    outage delays email and push (the due-delivery scan catches up) but not a web host's sends and sockets; taking
    every web host out for it would turn a broker outage into a site outage."""
    names = [name for name, _ in CHECKS]
    wanted = request.GET.getlist("check") or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        return JsonResponse({"check": [f"unknown: {', '.join(unknown)}; known: {', '.join(names)}"]}, status=400)
    result: dict[str, str] = {}
    for name, check in CHECKS:
        if name not in wanted:
            continue
        try:
            check()
        except Exception as exc:
            result[name] = f"down: {exc.__class__.__name__}"
        else:
            result[name] = "ok"
    healthy = all(value == "ok" for value in result.values())
    return JsonResponse(result, status=200 if healthy else 503)


def _metrics_allowed(request: HttpRequest) -> bool | None:
    """True: allowed; False: credentials given but not enough (403); None: no credentials (401)."""
    user: Any = getattr(request, "user", None)
    header = request.headers.get("Authorization", "")
    if header.startswith("Token "):
        try:
            authenticated = TokenAuthentication().authenticate(Request(request))
        except AuthenticationFailed:
            return False
        user = authenticated[0] if authenticated else user
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True
    token = getattr(settings, "METRICS_TOKEN", "")
    if header.startswith("Bearer "):
        given = header[len("Bearer ") :].strip()
        return bool(token) and hmac.compare_digest(given.encode(), token.encode())
    if user is not None and user.is_authenticated:
        return False
    return None


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    allowed = _metrics_allowed(request)
    if allowed is None:
        response = JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    if not allowed:
        return JsonResponse({"detail": "You do not have permission to read metrics."}, status=403)
    body, content_type = metrics_render()
    return HttpResponse(body, content_type=content_type)
