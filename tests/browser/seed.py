"""Writes tests/browser/dataset.py into the live server's database. Run once per session, in a subprocess:
`python -m tests.browser.seed` prints {"users": {name: id}, "token": "<bob's API token>"} as JSON."""

import json
import os
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notifyproject.settings.test")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from notifications.models import Notification  # noqa: E402
from notifications.services import notify  # noqa: E402
from tests.browser.dataset import INBOXES, PASSWORD, SENDER, STAFF, USERS  # noqa: E402


def main() -> None:
    User = get_user_model()
    users = {}
    for name in [*USERS, SENDER]:
        users[name] = User.objects.create_user(username=name, email=f"{name}@example.com", password=PASSWORD)
    users[STAFF] = User.objects.create_superuser(username=STAFF, email=f"{STAFF}@example.com", password=PASSWORD)
    users[SENDER].user_permissions.add(Permission.objects.get(codename="send_notification"))
    token = Token.objects.create(user=users[SENDER])
    now = timezone.now()
    for name, items in INBOXES.items():
        for index, item in enumerate(items):
            result = notify(
                recipients=[users[name]],
                category=item.category,
                priority=item.priority,
                title=item.title,
                body=f"Body of {item.title}",
                url=item.url,
                group_key=item.group_key,
                producer="browser-seed",
            )
            created = now - timedelta(days=item.days_ago, minutes=len(items) - index)
            Notification.objects.filter(content=result.content).update(
                created_at=created,
                read_at=created if item.read else None,
                archived_at=created if item.archived else None,
            )
    print(json.dumps({"users": {n: u.pk for n, u in users.items()}, "token": token.key}))


if __name__ == "__main__":
    main()
