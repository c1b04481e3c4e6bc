"""One send's delivery progress: recipients written, read %, deliveries by channel and status, and a button that
retries the dead ones. Aggregates only (selectors.content_fan_out), whatever the audience's size."""

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from .. import selectors
from ..delivery import machine
from ..models import Content, Delivery, DeliveryChannel, DeliveryStatus

TEMPLATE = "admin/notifications/content/fan_out.html"


def _deliveries_link(content: Content, **filters: str) -> str:
    query = {"notification__content__id__exact": str(content.pk), **{f"{k}__exact": v for k, v in filters.items()}}
    return f"{reverse('admin:notifications_delivery_changelist')}?{urlencode(query)}"


def _table(content: Content, fan_out: selectors.FanOut) -> list[dict[str, Any]]:
    """One row per delivery channel, one cell per status (0 when none), each count linking to those rows."""
    labels = dict(DeliveryChannel.choices)
    rows = []
    for channel, by_status in sorted(fan_out.deliveries.items()):
        cells = [
            {"count": by_status.get(status, 0), "url": _deliveries_link(content, channel=channel, status=status)}
            for status in DeliveryStatus.values
        ]
        rows.append({"channel": labels.get(channel, channel), "cells": cells, "total": sum(by_status.values())})
    return rows


def _retry(request: HttpRequest, content: Content) -> HttpResponse:
    if not request.user.has_perm("notifications.change_delivery"):
        raise PermissionDenied
    retried = machine.deliveries_retry_dead(deliveries=Delivery.objects.filter(notification__content=content))
    noun = "delivery" if retried == 1 else "deliveries"
    messages.success(request, f"{retried} dead {noun} queued again: they go out within moments.")
    return redirect("admin:notifications_content_fan_out", content.pk)


def fan_out_view(admin_site: admin.AdminSite, request: HttpRequest, object_id: int) -> HttpResponse:
    if not request.user.has_perm("notifications.view_content"):
        raise PermissionDenied
    content = Content.objects.select_related("category").filter(pk=object_id).first()
    if content is None:
        raise Http404("No such send.")
    if request.method == "POST":
        return _retry(request, content)
    fan_out = selectors.content_fan_out(content_id=content.pk)
    context = {
        **admin_site.each_context(request),
        "title": "Delivery progress",
        "subtitle": content.title,
        "opts": Content._meta,
        "content": content,
        "fan_out": fan_out,
        "statuses": DeliveryStatus.labels,
        "rows": _table(content, fan_out),
        "all_deliveries_url": _deliveries_link(content),
        "recipients_url": f"{reverse('admin:notifications_notification_changelist')}?content__id__exact={content.pk}",
        "dead_url": _deliveries_link(content, status=DeliveryStatus.DEAD),
        "can_retry": request.user.has_perm("notifications.change_delivery"),
    }
    return TemplateResponse(request, TEMPLATE, context)
