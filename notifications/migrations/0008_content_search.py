"""Full-text search over a notification's title and body (the center's search box), PostgreSQL only.

A GIN index on the same expression that `selectors.notification_search` queries. SQLite has no such index; the
selector falls back to a substring match there (fine for a laptop's data).
"""

from django.db import migrations

INDEX = "notifications_content_search"
EXPRESSION = "to_tsvector('simple'::regconfig, (title || ' ' || body))"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON notifications_content USING gin ({EXPRESSION})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("notifications", "0007_delivery_leased_until")]
    operations = [migrations.RunPython(create, drop, elidable=False)]
