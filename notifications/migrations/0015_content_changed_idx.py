"""Indexes for a resume's catch-up (retractions and updates a client missed while away).

The few changed sends (partial indexes on content's updated_at / retracted_at), then the user's row of each through
(content, recipient), which also replaces the content foreign key's own index (its leading column serves every
query by content). Created before that index is dropped, so a send's rows are never unindexed. On PostgreSQL the
notification table is partitioned: CREATE/DROP INDEX on the parent reaches every partition.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0014_merge_partition_mute"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(fields=["content", "recipient"], name="notification_content_user_idx"),
        ),
        migrations.AlterField(
            model_name="notification",
            name="content",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="notifications",
                to="notifications.content",
            ),
        ),
        migrations.AddIndex(
            model_name="content",
            index=models.Index(
                condition=models.Q(("updated_at__isnull", False)), fields=["updated_at"], name="content_updated_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="content",
            index=models.Index(
                condition=models.Q(("retracted_at__isnull", False)),
                fields=["retracted_at"],
                name="content_retracted_idx",
            ),
        ),
    ]
