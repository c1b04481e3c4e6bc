""" "Send announcement": a two-step form. Preview shows the notification as it will read and how many users it will
reach; only Send (from the preview) writes anything, through the API's broadcast service."""

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from .. import services
from ..api.permissions import user_can_broadcast
from ..models import Category, Content, Priority
from ..validation import BODY_MAX, TITLE_MAX, URL_MAX, SendSpec, send_fields, send_validate

TEMPLATE = "admin/notifications/announcement.html"


class AnnouncementForm(forms.Form):
    """Its send fields are named as in validation.SendFields (an empty priority is the category's default)."""

    audience = forms.ChoiceField(label="Audience")
    category = forms.ModelChoiceField(queryset=Category.objects.all(), to_field_name="slug")
    priority = forms.ChoiceField(choices=[("", "Category default"), *Priority.choices], required=False)
    title = forms.CharField(max_length=TITLE_MAX)
    body = forms.CharField(widget=forms.Textarea, required=False, max_length=BODY_MAX)
    url = forms.CharField(required=False, max_length=URL_MAX, help_text="http(s) URL or a path on this site")
    # Set by the preview: Send carries it as the idempotency key, so a double click or a resubmitted page sends once.
    token = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        groups = [(f"group:{name}", f"Group: {name}") for name in Group.objects.values_list("name", flat=True)]
        audience = self.fields["audience"]
        assert isinstance(audience, forms.ChoiceField)
        audience.choices = [("all", "All active users"), *groups]
        self.fields["category"].initial = Category.objects.filter(slug="announcement").first()

    def add_validation_error(self, exc: ValidationError) -> None:
        for name, errors in exc.message_dict.items():
            self.add_error(name if name in self.fields else None, errors)


def _checked(form: AnnouncementForm) -> tuple[SendSpec, int] | None:
    """The send as the service will store it, and the audience's size (one COUNT); None with the form's errors."""
    data = form.cleaned_data
    try:
        spec = send_validate(send_fields(data))
        reach = services.audience_users(data["audience"]).count()
    except ValidationError as exc:
        form.add_validation_error(exc)
        return None
    return spec, reach


def _send(request: HttpRequest, form: AnnouncementForm) -> HttpResponse | None:
    assert isinstance(request.user, AbstractBaseUser)  # admin_view: a logged-in staff member
    data = form.cleaned_data
    try:
        result = services.notification_broadcast(
            audience=data["audience"],
            actor=request.user,
            producer="admin",
            idempotency_key=f"announce:{data['token']}",
            **send_fields(data),
        )
    except ValidationError as exc:
        form.add_validation_error(exc)
        return None
    except services.IdempotencyConflict:
        form.add_error(None, "This preview was already used for another announcement: preview it again.")
        return None
    if result.replayed:
        messages.info(request, "This announcement was already sent: here is its progress.")
    else:
        messages.success(request, "Announcement queued: it reaches its audience in batches within moments.")
    return redirect("admin:notifications_content_fan_out", result.content.pk)


def announcement_view(admin_site: admin.AdminSite, request: HttpRequest) -> HttpResponse:
    """Send to all users or a group: the rows are written by a worker in batches, so a large audience never holds
    the admin request. GET and "Edit" show the form; "Preview" (or a Send without a preview) shows the preview."""
    if not user_can_broadcast(request.user):  # the API's rule for audience sends
        messages.error(request, "You need the broadcast permission to send announcements.")
        return redirect("admin:index")
    form = AnnouncementForm(request.POST or None)
    context: dict[str, Any] = {
        **admin_site.each_context(request),
        "form": form,
        "title": "Send announcement",
        "opts": Content._meta,
    }
    if request.method != "POST" or "_edit" in request.POST or not form.is_valid():
        return TemplateResponse(request, TEMPLATE, context)
    checked = _checked(form)
    if checked is None:
        return TemplateResponse(request, TEMPLATE, context)
    if "_send" in request.POST and form.cleaned_data["token"] is not None:
        sent = _send(request, form)
        if sent is not None:
            return sent
        return TemplateResponse(request, TEMPLATE, context)
    spec, reach = checked
    # A fresh key per preview: a double click on its Send sends once, an edited and previewed again one is new.
    confirm = AnnouncementForm(initial={**form.cleaned_data, "token": uuid.uuid4()})
    audience_label = dict(form.fields["audience"].choices)[form.cleaned_data["audience"]]  # type: ignore[attr-defined]
    priority_label = Priority(spec.priority).label
    context.update(
        spec=spec, reach=reach, confirm=confirm, audience_label=audience_label, priority_label=priority_label
    )
    return TemplateResponse(request, TEMPLATE, context)
