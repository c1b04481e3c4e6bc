from django.contrib import admin

from .models import Preference, UserSettings


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "category", "channel", "enabled"]
    list_filter = ["category", "channel", "enabled"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]


@admin.register(UserSettings)
class UserSettingsAdmin(admin.ModelAdmin):
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
