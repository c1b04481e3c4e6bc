"""Staff admin: every model, useful columns, content read-only, and a "Send announcement" page."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from . import services
from .models import Category, Content, Delivery, IdempotencyRecord, Notification, Priority


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["slug", "label", "default_priority", "mandatory", "sensitivity", "escalate_after", "digestible"]
    list_filter = ["mandatory", "sensitivity", "default_priority", "digestible"]
    search_fields = ["slug", "label"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """What was sent is history: staff can look, filter and search, never rewrite it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Content)
class ContentAdmin(ReadOnlyAdmin):
    list_display = ["title", "category", "priority", "producer", "recipient_count", "created_at"]
    list_filter = ["category", "priority", "created_at"]
    search_fields = ["title", "uuid", "producer", "group_key", "idempotency_key"]
    date_hierarchy = "created_at"
    list_select_related = ["category"]

    def get_urls(self) -> list[Any]:
        # The announcement form sends new contents, so it lives beside them: /admin/notifications/content/announce/.
        announce = self.admin_site.admin_view(announcement_view)
        return [path("announce/", announce, name="notifications_announce"), *super().get_urls()]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["uuid", "recipient", "seq", "category", "created_at", "read_at", "archived_at"]
    list_filter = ["category", "created_at", ("read_at", admin.EmptyFieldListFilter)]
    search_fields = ["uuid", "recipient__username", "recipient__email"]
    list_select_related = ["recipient", "category"]
    raw_id_fields = ["recipient", "content"]
    show_full_result_count = False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "notification", "channel", "status", "due_at", "attempts", "skip_reason", "sent_at"]
    list_filter = ["channel", "status", "skip_reason"]
    search_fields = ["notification__uuid", "target", "last_error"]
    raw_id_fields = ["notification"]
    readonly_fields = ["notification", "channel", "target", "created_at", "updated_at", "sent_at", "attempts"]
    show_full_result_count = False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["sender", "key", "status_code", "created_at"]
    search_fields = ["key", "sender__username"]
    raw_id_fields = ["sender"]


class AnnouncementForm(forms.Form):
    audience = forms.ChoiceField(label="Audience")
    category = forms.ModelChoiceField(queryset=Category.objects.all(), to_field_name="slug")
    priority = forms.ChoiceField(choices=[("", "Category default"), *Priority.choices], required=False)
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea, required=False, max_length=2000)
    url = forms.CharField(required=False, max_length=2000, help_text="http(s) URL or a path on this site")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        groups = [(f"group:{name}", f"Group: {name}") for name in Group.objects.values_list("name", flat=True)]
        audience = self.fields["audience"]
        assert isinstance(audience, forms.ChoiceField)
        audience.choices = [("all", "All active users"), *groups]
        self.fields["category"].initial = Category.objects.filter(slug="announcement").first()


def announcement_view(request: HttpRequest) -> HttpResponse:
    """Send to all users or a group through the API's broadcast service: the rows are written by a worker in
    batches, so a large audience never holds the admin request."""
    if not request.user.has_perm("notifications.broadcast_notification") and not request.user.is_superuser:
        messages.error(request, "You need the broadcast permission to send announcements.")
        return redirect("admin:index")
    form = AnnouncementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        assert isinstance(request.user, AbstractBaseUser)  # admin_view: a logged-in staff member
        try:
            services.notification_broadcast(
                audience=form.cleaned_data["audience"],
                category=form.cleaned_data["category"],
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                url=form.cleaned_data["url"],
                priority=form.cleaned_data["priority"] or None,
                actor=request.user,
                producer="admin",
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Announcement queued: it reaches its audience in batches within moments.")
            return redirect("admin:notifications_content_changelist")
    context = {**admin.site.each_context(request), "form": form, "title": "Send announcement"}
    return TemplateResponse(request, "admin/notifications/announcement.html", context)


admin.site.site_header = "Notifications administration"
