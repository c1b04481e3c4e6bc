"""Every endpoint x {anonymous, plain user, other user, sender, staff}: the right status, never another's data."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from push_notifications.models import GCMDevice

from notifications.models import Content, Notification
from notifications.services import notify
from tests.factories import make_user, send
from tests.notifications.api.conftest import client_for

OWNER_TOKEN = "owner-fcm-token-0123456789"
PRODUCER_TITLE = "producer-only-title"

# method, path, body, expected status per role. "{n}" is the owner's notification, "{d}" the owner's device token.
ENDPOINTS = [
    ("get", "/api/v1/notifications/", None, dict(anonymous=401, owner=200, other=200, sender=200, staff=200)),
    ("get", "/api/v1/notifications/{n}/", None, dict(anonymous=401, owner=200, other=404, sender=404, staff=404)),
    ("get", "/api/v1/notifications/{n}/why/", None, dict(anonymous=401, owner=200, other=404, sender=404, staff=404)),
    (
        "patch",
        "/api/v1/notifications/{n}/",
        {"read": True},
        dict(anonymous=401, owner=200, other=404, sender=404, staff=404),
    ),
    (
        "patch",
        "/api/v1/notifications/{n}/",
        {"saved": True},
        dict(anonymous=401, owner=200, other=404, sender=404, staff=404),
    ),
    (
        "patch",
        "/api/v1/notifications/{n}/",
        "SNOOZE",
        dict(anonymous=401, owner=200, other=404, sender=404, staff=404),
    ),
    (
        "get",
        "/api/v1/notifications/?status=saved",
        None,
        dict(anonymous=401, owner=200, other=200, sender=200, staff=200),
    ),
    (
        "get",
        "/api/v1/notifications/?status=snoozed",
        None,
        dict(anonymous=401, owner=200, other=200, sender=200, staff=200),
    ),
    (
        "post",
        "/api/v1/notifications/mark-all-read/",
        {},
        dict(anonymous=401, owner=200, other=200, sender=200, staff=200),
    ),
    (
        "post",
        "/api/v1/notifications/mark-seen/",
        {"up_to_seq": 10},
        dict(anonymous=401, owner=200, other=200, sender=200, staff=200),
    ),
    (
        "get",
        "/api/v1/notifications/unread-count/",
        None,
        dict(anonymous=401, owner=200, other=200, sender=200, staff=200),
    ),
    ("post", "/api/v1/notifications/send/", "SEND", dict(anonymous=401, owner=403, other=403, sender=201, staff=201)),
    (
        "post",
        "/api/v1/notifications/send-bulk/",
        "BULK",
        dict(anonymous=401, owner=403, other=403, sender=201, staff=201),
    ),
    (
        "post",
        "/api/v1/notifications/send/",
        "AUDIENCE",
        dict(anonymous=401, owner=403, other=403, sender=403, staff=202),
    ),
    # A producer's own sends: "{s}" is the sender's send to the owner (key "authz-key"); staff is a superuser, so it
    # holds notifications.manage_any_notification (by id; keys are per producer). Everyone else: 404.
    ("get", "/api/v1/notifications/sends/{s}/", None, dict(anonymous=401, owner=404, other=404, sender=200, staff=200)),
    (
        "patch",
        "/api/v1/notifications/sends/{s}/",
        {"title": "edited"},
        dict(anonymous=401, owner=404, other=404, sender=200, staff=200),
    ),
    (
        "post",
        "/api/v1/notifications/sends/{s}/retract/",
        {},
        dict(anonymous=401, owner=404, other=404, sender=200, staff=200),
    ),
    (
        "get",
        "/api/v1/notifications/sends/by-key/?idempotency_key=authz-key",
        None,
        dict(anonymous=401, owner=404, other=404, sender=200, staff=404),
    ),
    (
        "patch",
        "/api/v1/notifications/sends/by-key/?idempotency_key=authz-key",
        {"title": "edited"},
        dict(anonymous=401, owner=404, other=404, sender=200, staff=404),
    ),
    (
        "post",
        "/api/v1/notifications/sends/by-key/retract/?idempotency_key=authz-key",
        {},
        dict(anonymous=401, owner=404, other=404, sender=200, staff=404),
    ),
    (
        "post",
        "/api/v1/notifications/retract/",
        {"group_key": "authz-group"},
        dict(anonymous=401, owner=200, other=200, sender=200, staff=200),
    ),
    ("get", "/api/v1/categories/", None, dict(anonymous=401, owner=200, other=200, sender=200, staff=200)),
    ("get", "/api/v1/preferences/", None, dict(anonymous=401, owner=200, other=200, sender=200, staff=200)),
    (
        "patch",
        "/api/v1/preferences/",
        {"email_digest": "daily"},
        dict(anonymous=401, owner=200, other=200, sender=200, staff=200),
    ),
    ("get", "/api/v1/devices/fcm/", None, dict(anonymous=401, owner=200, other=200, sender=200, staff=200)),
    ("get", "/api/v1/devices/fcm/{d}/", None, dict(anonymous=401, owner=200, other=404, sender=404, staff=404)),
    ("delete", "/api/v1/devices/fcm/{d}/", None, dict(anonymous=401, owner=204, other=404, sender=404, staff=404)),
    ("get", "/api/v1/devices/apns/", None, dict(anonymous=401, owner=200, other=200, sender=200, staff=200)),
    ("get", "/api/v1/devices/webpush/", None, dict(anonymous=401, owner=200, other=200, sender=200, staff=200)),
    ("get", "/api/v1/webhooks/", None, dict(anonymous=401, owner=403, other=403, sender=403, staff=200)),
    (
        "post",
        "/api/v1/webhooks/",
        {"url": "http://169.254.169.254/", "events": ["notification.read"]},
        dict(anonymous=401, owner=403, other=403, sender=403, staff=400),
    ),
    ("get", "/api/v1/me/export/", None, dict(anonymous=401, owner=200, other=200, sender=200, staff=200)),
    ("get", "/api/v1/schema/", None, dict(anonymous=200, owner=200, other=200, sender=200, staff=200)),
    ("get", "/metrics", None, dict(anonymous=401, owner=403, other=403, sender=403, staff=200)),
    ("get", "/healthz", None, dict(anonymous=200, owner=200, other=200, sender=200, staff=200)),
]
ROLES = ["anonymous", "owner", "other", "sender", "staff"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "payload", "expected"),
    ENDPOINTS,
    ids=[f"{e[0]} {e[1]} {e[2] if isinstance(e[2], str) else ''}" for e in ENDPOINTS],
)
def test_authorization_matrix(db, settings, role, method, path, payload, expected):
    settings.NOTIFICATIONS_SEND_RATE = "off"
    # given an owner with a notification (with a secret in it) and a device, and the other roles
    owner = make_user("owner")
    users = {
        "anonymous": None,
        "owner": owner,
        "other": make_user("other"),
        "sender": make_user("sender", perms=["send_notification"]),
        "staff": make_user("staff", is_staff=True, is_superuser=True),
    }
    secret = "owner-secret-title"
    notification = Notification.objects.get(uuid=send([owner], title=secret).notification_ids[0])
    GCMDevice.objects.create(user=owner, registration_id=OWNER_TOKEN)
    produced = notify(
        recipients=[owner],
        category="comment",
        title=PRODUCER_TITLE,
        group_key="authz-group",
        actor=users["sender"],
        idempotency_key="authz-key",
    )
    if payload == "SEND":
        payload = {"recipients": [owner.pk], "category": "comment", "title": "x"}
    elif payload == "BULK":
        payload = {"notifications": [{"recipients": [owner.pk], "category": "comment", "title": "x"}]}
    elif payload == "SNOOZE":
        payload = {"snoozed_until": (timezone.now() + timedelta(hours=1)).isoformat()}
    elif payload == "AUDIENCE":
        payload = {"audience": "all", "category": "comment", "title": "x"}
    url = path.format(n=notification.uuid, d=OWNER_TOKEN, s=produced.id)
    client = client_for(users[role])
    # when
    kwargs = {"format": "json"} if payload is not None else {}
    response = getattr(client, method)(url, payload, **kwargs) if payload is not None else getattr(client, method)(url)
    # then
    assert response.status_code == expected[role], response.content[:300]
    if role != "owner":
        text = response.content.decode()
        assert secret not in text
        assert OWNER_TOKEN not in text and OWNER_TOKEN[-4:] not in text.replace(str(notification.uuid), "")
    if (
        role in ("other", "sender", "staff")
        and method == "get"
        and response.status_code == 200
        and "application/json" in response["Content-Type"]
    ):
        assert str(notification.uuid) not in json.dumps(response.json()) or path.startswith("/api/v1/schema")
    # a refused write changed nothing
    notification.refresh_from_db()
    if not (role == "owner" and path.endswith("{n}/") and method == "patch") and "mark-all-read" not in path:
        assert notification.read_at is None
        assert (notification.saved_at, notification.snoozed_until) == (None, None)
    producer_may = role == "sender" or (role == "staff" and "by-key" not in path)
    if "/sends/" in path and not producer_may:
        assert PRODUCER_TITLE not in response.content.decode()
    content = Content.objects.get(pk=produced.content.pk)
    if not (producer_may and method != "get" and "/sends/" in path) and not (role == "sender" and "retract/" in path):
        assert (content.title, content.retracted_at) == (PRODUCER_TITLE, None)
    if expected[role] >= 400 and "devices" in path:
        assert GCMDevice.objects.filter(registration_id=OWNER_TOKEN, user=owner).exists()
