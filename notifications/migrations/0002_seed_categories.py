"""Seed the default categories. Editable in the admin afterwards; re-running never overwrites edits."""

from django.db import migrations

ALL = ["in_app", "email", "push"]

CATEGORIES = [
    dict(slug="system", label="System", description="Service messages about your account and exports.",
         default_channels=["in_app", "email"], default_priority="normal", escalate_after=900),
    dict(slug="security", label="Security alerts", description="Sign-ins, password changes and other security events.",
         default_channels=ALL, default_priority="urgent", mandatory=True, sensitivity="private",
         escalate_after=0, digestible=False),
    dict(slug="comment", label="Comments", description="Replies to your posts and comments.",
         default_channels=ALL, default_priority="normal", escalate_after=600),
    dict(slug="mention", label="Mentions", description="Someone mentioned you.",
         default_channels=ALL, default_priority="high", escalate_after=300),
    dict(slug="follow", label="New followers", description="Someone started following you.",
         default_channels=["in_app", "email"], default_priority="low", escalate_after=3600),
    dict(slug="announcement", label="Announcements", description="News from the team.",
         default_channels=["in_app", "email"], default_priority="normal", escalate_after=3600),
]


def seed(apps, schema_editor):
    Category = apps.get_model("notifications", "Category")
    for values in CATEGORIES:
        slug = values["slug"]
        Category.objects.get_or_create(slug=slug, defaults={k: v for k, v in values.items() if k != "slug"})


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
