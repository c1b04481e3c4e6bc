"""Staff's producer update and retraction of a send: the "Update content" page (title, body, link, image, actions,
data; checked exactly as a send is, through notifications.services.notification_update) and the "Retract" action.
Both need notifications.manage_any_notification; the send's history stays read-only otherwise."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from .. import services
from ..models import Content
from ..validation import BODY_MAX, TITLE_MAX, URL_MAX

TEMPLATE = "admin/notifications/content/update.html"
MANAGE_ANY = "notifications.manage_any_notification"


class JSONText(forms.CharField):
    """JSON in a textarea; the send's rules (at most 3 actions, data ≤ 4 KB, ...) are the service's."""

    widget = forms.Textarea(attrs={"rows": 4})

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise ValidationError("Enter valid JSON.") from None


class ContentUpdateForm(forms.Form):
    title = forms.CharField(max_length=TITLE_MAX)
    body = forms.CharField(widget=forms.Textarea, required=False, max_length=BODY_MAX)
    url = forms.CharField(required=False, max_length=URL_MAX, help_text="http(s) URL or a path on this site")
    image_url = forms.CharField(required=False, max_length=URL_MAX, help_text="http(s) URL or a path on this site")
    actions = JSONText(required=False, help_text='A JSON list, e.g. [{"label": "Open", "url": "/posts/42"}]')
    data = JSONText(required=False, help_text="A JSON object, returned to clients as is")  # type: ignore[assignment]


def _initial(content: Content) -> dict[str, Any]:
    return {
        "title": content.title,
        "body": content.body,
        "url": content.url,
        "image_url": content.image_url,
        "actions": json.dumps(content.actions) if content.actions else "",
        "data": json.dumps(content.data) if content.data else "",
    }


def content_update_view(admin_site: admin.AdminSite, request: HttpRequest, object_id: int) -> HttpResponse:
    if not request.user.has_perm(MANAGE_ANY):
        raise PermissionDenied
    content = Content.objects.select_related("category").filter(pk=object_id).first()
    if content is None:
        raise Http404("No such send.")
    form = ContentUpdateForm(request.POST if request.method == "POST" else None, initial=_initial(content))
    if content.retracted_at is None and request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            services.notification_update(send_id=content.uuid, **changes)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        except services.SendRetracted:
            form.add_error(None, "This send was retracted meanwhile.")
        else:
            messages.success(request, "Updated: every recipient's open pages show the new content.")
            return redirect("admin:notifications_content_change", content.pk)
    context = {
        **admin_site.each_context(request),
        "title": "Update content",
        "subtitle": content.title,
        "opts": Content._meta,
        "content": content,
        "form": form,
    }
    return TemplateResponse(request, TEMPLATE, context)


def contents_retract_action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: Any) -> None:
    result = services.contents_retract(content_ids=list(queryset.values_list("pk", flat=True)))
    if result.sends:
        noun = "send" if result.sends == 1 else "sends"
        text = f"{result.sends} {noun} retracted: out of {result.notifications} inboxes, pending email/push skipped."
        modeladmin.message_user(request, text, messages.SUCCESS)
    else:
        modeladmin.message_user(request, "These were retracted already: nothing was changed.", messages.WARNING)
