"""Demo users (alice, bob, staff) with some history, so `make run` shows a living notification center."""

import random
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from notifications.models import Notification
from notifications.services import notify

DEMO_PASSWORD = "demo-pass-123"

HISTORY = [
    ("comment", "normal", "Bob replied to your post", "Looks good to me!", "/notifications/"),
    ("mention", "high", "Bob mentioned you in #general", "@alice can you take a look?", ""),
    ("follow", "low", "Carol started following you", "", ""),
    ("announcement", "normal", "Scheduled maintenance on Sunday", "The service will be read-only 02:00-03:00 UTC.", ""),
    ("security", "urgent", "New sign-in to your account", "A new device signed in. Was this you?", "/preferences/"),
    ("system", "normal", "Your export is ready", "Download it from your account page.", ""),
]


class Command(BaseCommand):
    help = "Create the demo users alice, bob and staff (password printed) with some notification history."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        users = {}
        for username, staff in (("alice", False), ("bob", False), ("staff", True)):
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"email": f"{username}@example.com", "is_staff": staff, "is_superuser": staff},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            users[username] = user
        # bob is a producer: he may send notifications through the API.
        users["bob"].user_permissions.add(Permission.objects.get(codename="send_notification"))

        if Notification.objects.filter(recipient=users["alice"]).exists():
            self.stdout.write("Demo history already present.")
        else:
            self._history(users)
        self.stdout.write(f"Demo users (password: {DEMO_PASSWORD}): alice, bob (may send), staff (admin).")

    @transaction.atomic
    def _history(self, users: dict[str, Any]) -> None:
        rng = random.Random(42)
        now = timezone.now()
        for day in range(40, -1, -1):
            category, priority, title, body, url = HISTORY[day % len(HISTORY)]
            result = notify(
                recipients=[users["alice"], users["bob"]],
                category=category,
                priority=priority,
                title=title,
                body=body,
                url=url,
                actor=users["bob"] if category in ("comment", "mention") else None,
                producer="seed",
            )
            created = now - timedelta(days=day, minutes=rng.randint(0, 600))
            read_at = created + timedelta(minutes=5) if day > 2 else None
            Notification.objects.filter(content=result.content).update(created_at=created, read_at=read_at)
