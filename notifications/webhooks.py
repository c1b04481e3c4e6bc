"""Webhook endpoints: staff register, change and remove them (the admin and the API call these services).

An endpoint belongs to one producer (the user whose token sends) and receives only events of notifications that
producer sent. Its URL is checked here, resolved (a name resolving to a private or loopback address is refused as
the address itself is), and checked again before every post (delivery/webhooks.py). The secret is generated here
and returned once by `webhook_endpoint_create`; it is never logged.
"""

import secrets
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from .delivery.webhook_events import EVENT_TYPES, webhook_endpoints_changed
from .delivery.webhooks import webhook_endpoint_disable
from .models import WebhookEndpoint
from .outbound import UnsafeEndpoint, webhook_url_check

SECRET_PREFIX = "whsec_"
URL_MAX = 2000

__all__ = [
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_endpoint_disable",
    "webhook_endpoint_update",
    "webhook_events_clean",
    "webhook_url_clean",
]


def webhook_url_clean(url: Any) -> str:
    """The URL if the server may post to it (after DNS resolution), else ValidationError on `url`."""
    if not isinstance(url, str) or not url or len(url) > URL_MAX:
        raise ValidationError({"url": [f"Enter an http(s) URL of at most {URL_MAX} characters."]})
    try:
        webhook_url_check(url, resolve=True)
    except UnsafeEndpoint as exc:
        raise ValidationError({"url": [f"Not a usable webhook URL: {exc}."]}) from None
    return url


def webhook_events_clean(events: Any) -> list[str]:
    """The subscribed event types, known and unique (order kept), at least one; else ValidationError on `events`."""
    if not isinstance(events, list | tuple) or not events:
        raise ValidationError({"events": ["Choose at least one event."]})
    unknown = sorted({repr(e) for e in events if not isinstance(e, str) or e not in EVENT_TYPES})
    if unknown:
        raise ValidationError({"events": [f"Unknown events: {', '.join(unknown[:20])}."]})
    return list(dict.fromkeys(events))


def webhook_secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def webhook_endpoint_create(
    *, producer: AbstractBaseUser, url: str, events: Sequence[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint for the producer; returns it and its secret (shown to staff once)."""
    url = webhook_url_clean(url)
    cleaned = webhook_events_clean(list(events))
    secret = webhook_secret_new()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            producer_id=producer.pk, url=url, events=cleaned, description=description[:200], secret=secret
        )
        webhook_endpoints_changed()
    return endpoint, secret


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: Sequence[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    """Change an endpoint. Enabling a disabled one starts its failure count afresh."""
    fields = ["updated_at"]
    if url is not None:
        endpoint.url = webhook_url_clean(url)
        fields.append("url")
    if events is not None:
        endpoint.events = webhook_events_clean(list(events))
        fields.append("events")
    if description is not None:
        endpoint.description = description[:200]
        fields.append("description")
    if active is not None and active != endpoint.active:
        endpoint.active = active
        fields.append("active")
        if active:
            endpoint.disabled_at, endpoint.disabled_reason = None, ""
            endpoint.consecutive_failures, endpoint.failing_since = 0, None
            fields += ["disabled_at", "disabled_reason", "consecutive_failures", "failing_since"]
    with transaction.atomic():
        endpoint.save(update_fields=fields)
        webhook_endpoints_changed()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint with its batches and waiting events."""
    with transaction.atomic():
        endpoint.delete()
        webhook_endpoints_changed()
