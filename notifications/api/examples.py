"""Request body examples for the OpenAPI schema (drf-spectacular post-processing hook): every one is a request the
server accepts as is, so "Try it out" in /api/v1/docs/ works with them (tests/notifications/api/test_examples.py).
Generated examples cannot be: a random category string is refused, and the mark-seen maximum (2^63 - 1) does not
survive JavaScript's numbers."""

from typing import Any

from django.db import DatabaseError

from ..selectors import category_list

# A category seeded by migration 0002; another slug if an operator removed it.
EXAMPLE_CATEGORY = "comment"
# Web Push subscriptions (and FCM tokens) as browsers hand them out: an endpoint at a push service, its keys.
WEBPUSH_DEVICE = {
    "registration_id": "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABexampleSubscription",
    "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
    "auth": "tBHItJI5svbpez7KI4CCXg",
    "browser": "FIREFOX",
    "name": "Firefox on my laptop",
}
FCM_DEVICE = {"registration_id": "fcm-registration-token-example", "name": "Pixel 8", "device_id": "0x1f"}
APNS_DEVICE = {"registration_id": "a" * 64, "name": "iPhone"}
WEBHOOK_ENDPOINT = {
    "url": "https://hooks.example.com/notifications",
    "events": ["notification.read", "delivery.email.failed"],
    "description": "CRM sync",
}

# A producer's update of a send (PATCH sends/<id>/): only the content fields, each checked as a send's.
SEND_EDIT = {"title": "Bob edited his reply", "body": "Looks great to me", "data": {"post_id": 42, "edited": True}}


def _example(summary: str, value: Any) -> dict[str, Any]:
    return {"summary": summary, "value": value}


def _send_body(category: str, recipients: dict[str, Any]) -> dict[str, Any]:
    return {
        **recipients,
        "category": category,
        "priority": "normal",
        "title": "Bob replied to your post",
        "body": "Looks good to me",
        "url": "/notifications/",
        "actions": [{"label": "Open", "url": "/notifications/", "style": "primary"}],
        "data": {"post_id": 42},
        "group_key": "post:42",
    }


def _recipients(request: Any) -> tuple[dict[str, Any], str]:
    """To whoever reads the docs (the schema is generated per request), so trying it reaches no one else."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return {"recipients": [user.pk]}, "to yourself"
    return {"recipient_usernames": ["alice"]}, "to alice"


def request_examples(category: str, request: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """operationId -> named examples of its JSON body."""
    recipients, to = _recipients(request)
    send = _send_body(category, recipients)
    quiet = {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Europe/Paris"}
    examples = {
        "notifications_send": {"comment": _example(f"A comment notification {to}", send)},
        "notifications_send_bulk": {
            "two": _example(
                f"Two notifications {to}",
                {"notifications": [send, {**send, "title": "Carol liked your post", "group_key": "post:43"}]},
            )
        },
        "notifications_mark_seen": {"seen": _example("The list was seen up to seq 57", {"up_to_seq": 57})},
        "notifications_mark_all_read": {
            "category": _example(
                f"Every {category} notification up to seq 57", {"up_to_seq": 57, "category": category}
            ),
            "all": _example("Everything", {}),
        },
        "notifications_partial_update": {"read": _example("Mark it read", {"read": True})},
        "sends_partial_update": {"edit": _example("The comment was edited", SEND_EDIT)},
        "sends_by_key_partial_update": {"edit": _example("The comment was edited", SEND_EDIT)},
        "notifications_retract_group": {
            "deleted": _example("The post was deleted: retract every send about it", {"group_key": "post:42"})
        },
        "webhooks_create": {"endpoint": _example("Reads and failed emails of my sends", WEBHOOK_ENDPOINT)},
        "webhooks_partial_update": {
            "enable": _example("Enable it again after a failure", {"active": True}),
            "events": _example("Reads only", {"events": ["notification.read"]}),
        },
        "preferences_partial_update": {
            "digest": _example("A daily email digest", {"email_digest": "daily"}),
            "quiet_hours": _example("Quiet hours at night, Paris time", {"quiet_hours": quiet}),
            "channel": _example(f"No email for {category}", {"channels": {category: {"email": False}}}),
        },
    }
    for kind, device in (("webpush", WEBPUSH_DEVICE), ("fcm", FCM_DEVICE), ("apns", APNS_DEVICE)):
        examples[f"devices_{kind}_create"] = {"device": _example("Register this device", device)}
        examples[f"devices_{kind}_update"] = {"device": _example("Replace its details", device)}
        examples[f"devices_{kind}_partial_update"] = {"rename": _example("Rename it", {"name": "Work phone"})}
    return examples


def examples_add(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    try:
        slugs = sorted(c.slug for c in category_list())
    except DatabaseError:  # `manage.py check` builds the schema too, possibly before any migration ran
        return result
    category = EXAMPLE_CATEGORY if EXAMPLE_CATEGORY in slugs or not slugs else slugs[0]
    examples = request_examples(category, request)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or operation.get("operationId") not in examples:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                body["examples"] = examples[operation["operationId"]]
    return result
