from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone

from notifications.validation import datetime_external

from .models import GroupMute, Preference, UserSettings
from .services import BUDGET_MAX, quiet_times_check, timezone_names


class UserSettingsForm(forms.ModelForm):
    """Staff edits obey the same rules as the user's own (preferences.services): a known zone, a bounded mute."""

    class Meta:
        model = UserSettings
        fields = [
            "user",
            "quiet_hours_enabled",
            "quiet_start",
            "quiet_end",
            "timezone",
            "email_digest",
            "muted_until",
            "email_content",
            "push_per_hour",
            "email_per_hour",
        ]

    def _limit(self, field: str) -> int | None:
        value = self.cleaned_data.get(field)
        if value is not None and not 1 <= value <= BUDGET_MAX:
            raise forms.ValidationError(f"Empty (no limit) or 1..{BUDGET_MAX}.")
        return value

    def clean_push_per_hour(self) -> int | None:
        return self._limit("push_per_hour")

    def clean_email_per_hour(self) -> int | None:
        return self._limit("email_per_hour")

    def clean_muted_until(self) -> datetime | None:
        value = self.cleaned_data.get("muted_until")
        if value is None:
            return None
        try:
            return datetime_external(value, naive_zone=timezone.get_current_timezone())
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        try:
            quiet_times_check(cleaned.get("quiet_start"), cleaned.get("quiet_end"))
        except ValidationError as exc:
            self.add_error("quiet_end", exc)
        return cleaned

    def clean_timezone(self) -> str:
        value = self.cleaned_data.get("timezone", "")
        if value not in timezone_names():
            raise forms.ValidationError("Unknown time zone.")
        return value


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "category", "channel", "enabled"]
    list_filter = ["category", "channel", "enabled"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]


@admin.register(UserSettings)
class UserSettingsAdmin(admin.ModelAdmin):
    form = UserSettingsForm
    list_display = [
        "user",
        "quiet_hours_enabled",
        "quiet_start",
        "quiet_end",
        "timezone",
        "email_digest",
        "muted_until",
    ]
    list_filter = ["quiet_hours_enabled", "email_digest", "email_content"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]


@admin.register(GroupMute)
class GroupMuteAdmin(admin.ModelAdmin):
    """Staff see and remove mutes; users create them (preferences.services.group_mute_create also cancels the
    group's pending deliveries, which a bare admin form would not)."""

    list_display = ["user", "group_key", "category", "until", "created_at"]
    list_filter = ["category"]
    search_fields = ["user__username", "group_key"]
    readonly_fields = ["user", "group_key", "category", "until", "created_at"]
    list_select_related = ["user", "category"]

    def has_add_permission(self, request: Any) -> bool:
        return False
