"""The per-recipient row's category: no foreign key constraint and no index of its own.

The row copies its content's category, and the content's foreign key protects it (a category with sends cannot be
deleted), so the row's own constraint was a second check per inserted row (a deferred trigger firing at commit for
every recipient) and its single-column index a second index to maintain per row. The user-facing queries that
name the category lead with the recipient (the partial unread index, the inbox's recipient/seq index); only the
admin's category filter on the notification list read it, and that list walks created_at newest first instead.

On PostgreSQL the table is partitioned (0012): dropping the parent's constraint and index drops every partition's.
Backwards, the index comes back on every partition under PostgreSQL's own names; 0016's step names them after the
parent again, the project's convention.
"""

from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models

partition_indexes_name = import_module("notifications.migrations.0016_notification_group_key").partition_indexes_name


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0016_notification_group_key"),
    ]

    operations = [
        # Listed first so that, backwards, it runs after the index is back.
        migrations.RunPython(migrations.RunPython.noop, partition_indexes_name),
        migrations.AlterField(
            model_name="notification",
            name="category",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="notifications.category",
            ),
        ),
    ]
