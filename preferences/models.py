"""Per-user preferences: category x channel switches and the user's delivery settings."""

from django.conf import settings
from django.db import models

from notifications.models import Category, ChannelKind


class DigestCadence(models.TextChoices):
    OFF = "off", "Off"
    HOURLY = "hourly", "Hourly"
    DAILY = "daily", "Daily"


class Preference(models.Model):
    """An explicit choice; a missing row means the category's default channels."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10, choices=ChannelKind.choices)
    enabled = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "category", "channel"], name="preference_unique"),
        ]

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"{self.user_id} {self.category_id}/{self.channel}: {state}"


class UserSettings(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="notification_settings"
    )
    quiet_hours_enabled = models.BooleanField(default=False)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    email_digest = models.CharField(max_length=10, choices=DigestCadence.choices, default=DigestCadence.OFF)
    muted_until = models.DateTimeField(null=True, blank=True, help_text="Do not disturb until (urgent still comes).")
    email_content = models.BooleanField(default=True, help_text="Include content in emails (never for private).")

    class Meta:
        verbose_name_plural = "user settings"

    def __str__(self) -> str:
        return f"settings of {self.user_id}"
