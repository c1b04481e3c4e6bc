"""The staff dashboard (/admin/notifications/content/dashboard/): sends, the delivery funnel, read rates, the live
side from the metrics, the slowest deliveries and what fails now. Staff with notifications.view_dashboard only."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from .. import dashboard, metrics
from .charts import bar_chart, hbar_chart

TEMPLATE = "admin/notifications/dashboard.html"
PERMISSION = "notifications.view_dashboard"


def dashboard_view(site: admin.AdminSite, request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    window = request.GET.get("window", "24h")
    if window not in dashboard.WINDOWS:
        window = "24h"
    now = timezone.now()
    since = now - dashboard.WINDOWS[window]
    sends = dashboard.dashboard_sends(since=since, now=now)
    funnel = dashboard.dashboard_funnel(since=since)
    reads = dashboard.dashboard_reads(since=since)
    label = "%H:00" if window == "24h" else "%a %H:00"
    hours = [h.astimezone(timezone.get_current_timezone()).strftime(label) for h in sends.hours]
    context = {
        **site.each_context(request),
        "title": "Dashboard",
        "window": window,
        "windows": list(dashboard.WINDOWS),
        "sample": dashboard.SAMPLE,
        "sends": sends,
        "sends_rows": list(zip(hours, sends.sends, sends.notifications, strict=True)),
        "sends_chart": bar_chart(
            title=f"Sends per hour, last {window}",
            description=f"{sum(sends.sends)} sends to {sum(sends.notifications)} recipients in all.",
            labels=hours,
            values=sends.sends,
        ),
        "category_chart": hbar_chart(
            title=f"Sends per category, last {window}",
            description=", ".join(f"{slug}: {n}" for slug, n in sends.by_category.items()) or "No sends.",
            rows=list(sends.by_category.items()),
        ),
        "funnel": [
            (
                channel,
                counts,
                hbar_chart(
                    title=f"{channel} deliveries, last {window}",
                    description=", ".join(f"{k}: {v}" for k, v in counts.items()),
                    rows=list(counts.items()),
                ),
            )
            for channel, counts in funnel.items()
        ],
        "reads": reads,
        "reads_chart": hbar_chart(
            title="Read rate per category (%)",
            description=", ".join(f"{r.category}: {r.read_rate:.0%}" for r in reads) or "No notifications.",
            rows=[(r.category, round(r.read_rate * 100, 1)) for r in reads],
        ),
        "live": metrics.metrics_snapshot(),
        "slowest": dashboard.dashboard_slowest(since=since),
        "failing": dashboard.dashboard_failing(),
        "webhooks_failing": dashboard.dashboard_webhooks_failing(),
    }
    return TemplateResponse(request, TEMPLATE, context)
