"""Reading admin pages in tests: a table's cells, the number of queries a page costs, the pages to check."""

from html.parser import HTMLParser

from django.db import connection
from django.test.utils import CaptureQueriesContext

ADMIN_PAGES = [
    "admin:notifications_category_changelist",
    "admin:notifications_content_changelist",
    "admin:notifications_notification_changelist",
    "admin:notifications_delivery_changelist",
    "admin:notifications_idempotencyrecord_changelist",
    "admin:preferences_preference_changelist",
    "admin:preferences_usersettings_changelist",
    "admin:notifications_announce",
]


class _Table(HTMLParser):
    """The cells' text of one table (by id): header row, then body rows."""

    def __init__(self, table_id: str | None) -> None:
        super().__init__()
        self.table_id, self.depth, self.done = table_id, 0, False
        self.rows: list[list[str]] = []
        self.cell: str | None = None

    def handle_starttag(self, tag, attrs):
        wanted = self.table_id is None or dict(attrs).get("id") == self.table_id
        if tag == "table" and (self.depth or (wanted and not self.done)):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table" and self.depth:
            self.depth -= 1
            self.done = not self.depth
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join(self.cell.split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def table(response, table_id: str | None = None, *, after: str = "") -> list[list[str]]:
    """The table with this id (or the first one) in the page, or in the part of it after `after`."""
    page = response.content.decode()
    parser = _Table(table_id)
    parser.feed(page[page.index(after) :] if after else page)
    return parser.rows


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)
