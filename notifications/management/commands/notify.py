"""python manage.py notify --to alice[,bob] --category comment --title "Hi" [--body ...]"""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications.models import Priority
from notifications.services import notify


class Command(BaseCommand):
    help = "Send a notification to one or more users by username."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--to", required=True, help="username, or several separated by commas")
        parser.add_argument("--category", required=True)
        parser.add_argument("--title", required=True)
        parser.add_argument("--body", default="")
        parser.add_argument("--url", default="")
        parser.add_argument("--image-url", default="")
        parser.add_argument("--priority", choices=Priority.values, default=None)
        parser.add_argument("--group-key", default="")
        parser.add_argument("--idempotency-key", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        names = [n.strip() for n in options["to"].split(",") if n.strip()]
        users = {u.get_username(): u for u in get_user_model().objects.filter(username__in=names, is_active=True)}
        missing = [n for n in names if n not in users]
        if missing:
            raise CommandError(f"Unknown or inactive users: {', '.join(missing)}")
        try:
            result = notify(
                recipients=list(users.values()),
                category=options["category"],
                title=options["title"],
                body=options["body"],
                url=options["url"],
                image_url=options["image_url"],
                priority=options["priority"],
                group_key=options["group_key"],
                idempotency_key=options["idempotency_key"],
                producer="cli",
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stdout.write(f"Sent {result.id} to {result.recipient_count} recipient(s).")
