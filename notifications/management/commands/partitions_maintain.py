"""Create the notification table's partitions now (PostgreSQL): what the daily task does, on demand.

`--since YYYY-MM-DD` also creates the periods from that date on, before history is loaded or imported, so those rows
go to their own partitions rather than DEFAULT.
"""

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from notifications.delivery import partitions


class Command(BaseCommand):
    help = "Create the notification table's partitions for this period, the next ones and (--since) earlier ones."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--since", help="also create the periods from this date (YYYY-MM-DD, UTC) on")

    def handle(self, *args: Any, since: str | None = None, **options: Any) -> None:
        if not partitions.partitioned():
            self.stdout.write("The notification table is not partitioned here (SQLite, or before migration 0012).")
            return
        start = None
        if since:
            try:
                start = datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError as exc:
                raise CommandError(f"--since must be YYYY-MM-DD, got {since!r}") from exc
        created = partitions.partitions_maintain(since=start)
        self.stdout.write(f"{len(created)} partitions created" + (f": {', '.join(created)}" if created else ""))
