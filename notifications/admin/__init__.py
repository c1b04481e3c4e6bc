"""Staff admin: every model, useful columns, history read-only, "Send announcement" (announce.py) and each send's
delivery progress (fan_out.py)."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html

from ..delivery import machine
from ..models import Category, Content, Delivery, IdempotencyRecord, Notification
from .announce import announcement_view
from .dashboard import dashboard_view
from .fan_out import fan_out_view
from .retract import MANAGE_ANY, content_update_view, contents_retract_action
from .webhooks import WebhookDeliveryAdmin, WebhookEndpointAdmin

__all__ = ["WebhookDeliveryAdmin", "WebhookEndpointAdmin"]

RETRY_DESCRIPTION = "Retry dead deliveries"


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


def _retried_message(modeladmin: admin.ModelAdmin, request: HttpRequest, retried: int) -> None:
    if retried:
        text = (
            f"{retried} dead {'delivery' if retried == 1 else 'deliveries'} queued again: they go out within moments."
        )
        modeladmin.message_user(request, text, messages.SUCCESS)
    else:
        modeladmin.message_user(request, "No dead deliveries among these: nothing was changed.", messages.WARNING)


@admin.register(Content)
class ContentAdmin(ReadOnlyAdmin):
    list_display = ["title", "category", "priority", "producer", "recipient_count", "created_at", "progress"]
    list_filter = ["category", "priority", "created_at"]
    search_fields = ["title", "uuid", "producer", "group_key", "idempotency_key"]
    date_hierarchy = "created_at"
    list_select_related = ["category"]
    actions = ["retry_dead", "retract"]

    def get_urls(self) -> list[Any]:
        # Announcements send new contents and the progress page reads one, so both live beside them.
        announce = self.admin_site.admin_view(lambda request: announcement_view(self.admin_site, request))
        progress = self.admin_site.admin_view(
            lambda request, object_id: fan_out_view(self.admin_site, request, object_id)
        )
        dashboard = self.admin_site.admin_view(lambda request: dashboard_view(self.admin_site, request))
        update = self.admin_site.admin_view(
            lambda request, object_id: content_update_view(self.admin_site, request, object_id)
        )
        return [
            path("<int:object_id>/update/", update, name="notifications_content_update"),
            path("announce/", announce, name="notifications_announce"),
            path("dashboard/", dashboard, name="notifications_dashboard"),
            path("<int:object_id>/fan-out/", progress, name="notifications_content_fan_out"),
            *super().get_urls(),
        ]

    @admin.display(description="delivery progress")
    def progress(self, obj: Content) -> str:
        return format_html('<a href="{}">Progress</a>', reverse("admin:notifications_content_fan_out", args=[obj.pk]))

    def has_manage_any_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_ANY)

    @admin.action(description="Retract (out of every inbox; pending email/push skipped)", permissions=["manage_any"])
    def retract(self, request: HttpRequest, queryset: QuerySet[Content]) -> None:
        contents_retract_action(self, request, queryset)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.change_delivery")

    @admin.action(description=RETRY_DESCRIPTION, permissions=["retry"])
    def retry_dead(self, request: HttpRequest, queryset: QuerySet[Content]) -> None:
        deliveries = Delivery.objects.filter(notification__content__in=queryset)
        _retried_message(self, request, machine.deliveries_retry_dead(deliveries=deliveries))


class StatusFilter(admin.SimpleListFilter):
    """The inbox's states, as the notification center shows them: archived wins over snoozed, snoozed over read
    (a snoozed row is out of the inbox and the unread count until it wakes)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("unread", "Unread"), ("read", "Read"), ("snoozed", "Snoozed"), ("archived", "Archived")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "unread":
            return queryset.filter(read_at__isnull=True, archived_at__isnull=True, snoozed_until__isnull=True)
        if value == "read":
            return queryset.filter(read_at__isnull=False, archived_at__isnull=True, snoozed_until__isnull=True)
        if value == "snoozed":
            return queryset.filter(snoozed_until__isnull=False, archived_at__isnull=True)
        if value == "archived":
            return queryset.filter(archived_at__isnull=False)
        return queryset


def notification_status(obj: Notification) -> str:
    if obj.archived_at is not None:
        return "Archived"
    if obj.snoozed_until is not None:
        return "Snoozed"
    return "Read" if obj.read_at is not None else "Unread"


class DeliveryInline(admin.TabularInline):
    """A notification's email and push deliveries, as the state machine left them: read-only."""

    model = Delivery
    fields = readonly_fields = ("channel", "status", "attempts", "last_error", "skip_reason", "due_at", "sent_at")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["title", "recipient_name", "category", "priority", "status", "created_at"]
    list_filter = [StatusFilter, "category", "created_at"]
    search_fields = ["content__title", "recipient__username", "uuid"]
    search_help_text = "Title, recipient username or notification id"
    # Every column comes from these joins: the page is a fixed number of queries whatever its size.
    list_select_related = ["content", "recipient", "category"]
    show_full_result_count = False
    fields = ["title", "recipient", "category", "priority", "status", "body", "url", "content", "uuid", "seq"]
    fields += ["created_at", "seen_at", "read_at", "archived_at", "saved_at", "snoozed_until"]
    readonly_fields = ["title", "priority", "status", "body", "url"]
    inlines = [DeliveryInline]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # The progress page links to one send's recipients.
        return lookup == "content__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(ordering="content__title")
    def title(self, obj: Notification) -> str:
        return obj.content.title

    @admin.display(description="recipient", ordering="recipient__username")
    def recipient_name(self, obj: Notification) -> str:
        return obj.recipient.get_username()

    @admin.display(ordering="content__priority")
    def priority(self, obj: Notification) -> str:
        return obj.content.get_priority_display()

    @admin.display(description="status")
    def status(self, obj: Notification) -> str:
        return notification_status(obj)

    @admin.display()
    def body(self, obj: Notification) -> str:
        return obj.content.body

    @admin.display(description="URL")
    def url(self, obj: Notification) -> str:
        return obj.content.url


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "notification", "channel", "status", "due_at", "attempts", "skip_reason", "sent_at"]
    list_filter = ["channel", "status", "skip_reason"]
    search_fields = ["notification__uuid", "target", "last_error"]
    list_select_related = ["notification__content", "notification__recipient"]
    raw_id_fields = ["notification"]
    readonly_fields = ["notification", "channel", "target", "created_at", "updated_at", "sent_at", "attempts"]
    show_full_result_count = False
    actions = ["retry_dead"]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # The progress page links to one send's deliveries.
        return lookup == "notification__content__id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.action(description=RETRY_DESCRIPTION, permissions=["change"])
    def retry_dead(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        _retried_message(self, request, machine.deliveries_retry_dead(deliveries=queryset))


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["sender", "key", "status_code", "created_at"]
    search_fields = ["key", "sender__username"]
    raw_id_fields = ["sender"]


admin.site.site_header = "Notifications administration"
