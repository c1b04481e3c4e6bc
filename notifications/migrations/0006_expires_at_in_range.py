"""Bring stored `expires_at` values into the range every datetime from outside is now kept in (2000..2100 UTC).

An expiry past the range (a year-10000 timestamp only PostgreSQL could store, and no driver can read back) becomes
"never expires"; one before it becomes the start of the range (already expired either way).
"""

from django.db import migrations


def clamp(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite refused such values at write
    table = schema_editor.quote_name(apps.get_model("notifications", "Content")._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET expires_at = NULL WHERE expires_at >= '2100-01-01T00:00:00Z'")
        cursor.execute(
            f"UPDATE {table} SET expires_at = '2000-01-01T00:00:00Z' WHERE expires_at < '2000-01-01T00:00:00Z'"
        )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0005_delivery_plan_pending")]
    operations = [migrations.RunPython(clamp, migrations.RunPython.noop)]
