"""python manage.py notify --to alice[,bob] --category comment --title "Hi" [--body ...]"""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications.models import Priority
from notifications.services import notify, usernames_resolve
from notifications.validation import send_fields


class Command(BaseCommand):
    help = "Send a notification to one or more users by username."

    def add_arguments(self, parser: CommandParser) -> None:
        # Every option but --to and --idempotency-key is a send field by the same name (validation.SendFields).
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
        try:
            result = notify(
                recipients=usernames_resolve(names),
                idempotency_key=options["idempotency_key"],
                producer="cli",
                **send_fields(options),
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        self.stdout.write(f"Sent {result.id} to {result.recipient_count} recipient(s).")
