"""The per-recipient row's content: no foreign key constraint.

Every write path makes the constraint's check redundant: notify(), bulk sends and the one-statement send insert the
content in the same transaction as its rows (no one else can see it, let alone delete it, before they commit), and an
audience broadcast's batches write under the content's row lock (SELECT ... FOR UPDATE) and stop once it is gone.
Deleting a content through the ORM still deletes its rows (on_delete=CASCADE is applied by Django, not by the
database); retention deletes only contents without rows. The constraint cost a deferred trigger per inserted row at
commit: ~3.5 ms of a 1,000-recipient send's ~25 ms in the database (EXPLAIN ANALYZE, docs/performance.md, S4).

On PostgreSQL the table is partitioned (0012): dropping the parent's constraint drops every partition's; backwards,
adding it to the parent adds it to every partition.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0017_notification_category_unchecked"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="content",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to="notifications.content",
            ),
        ),
    ]
