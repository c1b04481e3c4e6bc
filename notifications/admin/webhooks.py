"""Staff admin for webhooks: endpoints (registered through the same services as the API, URL checked after DNS
resolution, secret shown once), their batches as the delivery states left them, and "retry dead"."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import webhooks
from ..delivery.webhooks import webhook_deliveries_retry_dead
from ..models import WebhookDelivery, WebhookEndpoint, WebhookEventType


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="notification.retracted: the producer retracted a send (one event per recipient).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["producer", "url", "description", "events", "active"]
        widgets = {"url": forms.URLInput(attrs={"size": 80})}
        help_texts = {
            "producer": "The user whose token sends: only notifications they sent reach this endpoint.",
            "url": "https, at a public address (checked after DNS, again before every post); redirects are not "
            "followed.",
        }

    def clean_url(self) -> str:
        try:
            return webhooks.webhook_url_clean(self.cleaned_data.get("url"))
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["url"]) from None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "producer", "active", "consecutive_failures", "disabled_reason", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "description", "producer__username", "uuid"]
    list_select_related = ["producer"]
    raw_id_fields = ["producer"]
    readonly_fields = ["secret_shown", "consecutive_failures", "failing_since", "disabled_at", "disabled_reason"]
    actions = ["enable"]

    @admin.display(description="secret")
    def secret_shown(self, obj: WebhookEndpoint) -> str:
        return obj.secret_masked or "(generated when saved, shown once)"

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            webhooks.webhook_endpoint_update(
                endpoint=obj,
                url=data["url"],
                events=data["events"],
                description=data.get("description", ""),
                active=data.get("active"),
            )
            return
        endpoint, secret = webhooks.webhook_endpoint_create(
            producer=data["producer"], url=data["url"], events=data["events"], description=data.get("description", "")
        )
        if not data.get("active", True):
            webhooks.webhook_endpoint_update(endpoint=endpoint, active=False)
        obj.pk, obj.uuid, obj.secret, obj.created_at = endpoint.pk, endpoint.uuid, endpoint.secret, endpoint.created_at
        obj._state.adding = False
        self.message_user(
            request,
            f"The signing secret of this endpoint, shown this once (store it in the receiver now): {secret}",
            messages.WARNING,
        )

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        webhooks.webhook_endpoint_delete(endpoint=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhooks.webhook_endpoint_delete(endpoint=endpoint)

    @admin.action(description="Enable (failure count reset)", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset.filter(active=False):
            webhooks.webhook_endpoint_update(endpoint=endpoint, active=True)
        self.message_user(request, "Enabled. Retry their dead deliveries to send what was missed.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Batches as the delivery states left them: read-only, but dead ones can be retried."""

    list_display = ["id", "endpoint", "status", "event_count", "attempts", "response_status", "due_at", "sent_at"]
    list_filter = ["status"]
    search_fields = ["uuid", "endpoint__url", "last_error"]
    list_select_related = ["endpoint"]
    readonly_fields = (
        "uuid",
        "endpoint",
        "status",
        "event_count",
        "attempts",
        "last_error",
        "response_status",
        "due_at",
        "sent_at",
        "created_at",
        "updated_at",
        "body",
    )
    fields = readonly_fields
    show_full_result_count = False
    actions = ["retry_dead"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry dead webhook deliveries", permissions=["change"])
    def retry_dead(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        retried = webhook_deliveries_retry_dead(deliveries=queryset)
        if retried:
            self.message_user(request, f"{retried} dead webhook deliveries queued again.", messages.SUCCESS)
        else:
            self.message_user(request, "No dead webhook deliveries among these: nothing was changed.", messages.WARNING)
