"""Clear `muted_until` values outside the range every datetime from outside is now kept in (2000..2100 UTC).

Before validation was bounded, a `muted_until` such as 9999-12-31T23:59:59-12:00 was stored by PostgreSQL as a
year-10000 timestamp that no driver can read back: every page, send and fan-out that loaded the row failed. Only
PostgreSQL can hold such values (SQLite refused them at write), so only there is there anything to clear.
"""

from django.db import migrations


def clear_out_of_range(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("preferences", "UserSettings")._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET muted_until = NULL "
            "WHERE muted_until >= '2100-01-01T00:00:00Z' OR muted_until < '2000-01-01T00:00:00Z'"
        )


class Migration(migrations.Migration):
    dependencies = [("preferences", "0001_initial")]
    operations = [migrations.RunPython(clear_out_of_range, migrations.RunPython.noop)]
