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
    # The fatigue budget: external interruptions per sliding hour, per kind; past it, non-urgent notifications of
    # non-mandatory categories go into the next digest email instead. Null: no limit.
    push_per_hour = models.PositiveSmallIntegerField(null=True, blank=True, default=6)
    email_per_hour = models.PositiveSmallIntegerField(null=True, blank=True, default=6)

    class Meta:
        verbose_name_plural = "user settings"

    def __str__(self) -> str:
        return f"settings of {self.user_id}"


class GroupMute(models.Model):
    """The user muted a group (Content.group_key), in one category or in all: its new notifications are still stored
    (history stays complete) but raise no badge, toast, email or push until `until` (null: forever)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    group_key = models.CharField(max_length=200)
    until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # NULL is distinct from NULL in a unique index: "all categories" needs a constraint of its own.
            models.UniqueConstraint(
                fields=["user", "group_key"], condition=models.Q(category__isnull=True), name="group_mute_unique_all"
            ),
            models.UniqueConstraint(
                fields=["user", "group_key", "category"],
                condition=models.Q(category__isnull=False),
                name="group_mute_unique_category",
            ),
        ]
        indexes = [
            # The send path looks mutes up by (recipient, group_key); the preferences page lists a user's mutes.
            models.Index(fields=["user", "group_key"], name="group_mute_user_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} muted {self.group_key}"
