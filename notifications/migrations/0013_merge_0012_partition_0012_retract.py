# Two 0012s from work done in parallel (partitioning, retraction): independent, merged.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0012_partition"),
        ("notifications", "0012_retract"),
    ]

    operations = []
