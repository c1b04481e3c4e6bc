"""Server-rendered pages. Every state change is a POST with CSRF (never a GET link).

Every page works without JavaScript; the JS module enhances the same forms (it posts them with
`Accept: application/json` and gets a small JSON answer instead of a redirect).
"""

import zoneinfo
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from preferences.selectors import user_zone

from . import grouping, selectors, services
from .models import Category, Content, Notification, Priority
from .payloads import notification_item
from .snoozing import snooze_label, snooze_menu, snooze_until_asked
from .validation import DATETIME_MAX, DATETIME_MIN, SEQ_MAX, query_int

PAGE_SIZE = 20
# "Send me a test notification": at most this many per user per window (counted in the database, so the limit
# holds across web processes).
SELF_TEST_LIMIT = 10
SELF_TEST_WINDOW = timedelta(minutes=1)
SERVICE_WORKER = Path(settings.BASE_DIR) / "static" / "notifications" / "sw.js"


class AuthedRequest(HttpRequest):
    """A request behind @login_required: the user is never anonymous (django-stubs' documented pattern)."""

    user: User


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("notifications:center")
    return redirect("login")


def wants_json(request: HttpRequest) -> bool:
    """The page's script asked for a JSON answer (the center's and the preferences page's alike)."""
    return "application/json" in request.headers.get("Accept", "")


TABS = [
    (selectors.Status.UNREAD, "Unread"),
    (selectors.Status.INBOX, "All"),
    (selectors.Status.SAVED, "Saved"),
    (selectors.Status.SNOOZED, "Snoozed"),
    (selectors.Status.ARCHIVED, "Archived"),
]
SEARCH_MAX = 200
GROUPED_VIEWS = (selectors.Status.INBOX, selectors.Status.UNREAD)


def _parse_date(value: str, label: str, problems: list[str]) -> date | None:
    """A filter day, or None with a message when malformed or outside the range datetimes are kept in."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        problems.append(f"{label}: “{value[:40]}” is not a date (use YYYY-MM-DD); it was ignored.")
        return None
    if not DATETIME_MIN.date() < day < DATETIME_MAX.date():
        # also keeps `day + 1` and the user's zone away from year 1 and year 9999
        problems.append(f"{label}: {value} is outside the history that can exist; it was ignored.")
        return None
    return day


def _day_label(day: date, today: date) -> str:
    if day == today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    return day.strftime("%A, %-d %B %Y") if day.year != today.year else day.strftime("%A, %-d %B")


def _with_days(items: list[dict], zone: zoneinfo.ZoneInfo) -> list[dict]:
    """Mark the first item of each day (in the user's zone) so the template can put a day header above it."""
    today = timezone.now().astimezone(zone).date()
    previous = None
    for item in items:
        day = item["created"].astimezone(zone).date()
        item["day"] = _day_label(day, today) if day != previous else None
        previous = day
    return items


def _center_filters(request: AuthedRequest, zone: zoneinfo.ZoneInfo) -> dict[str, Any]:
    """The center's filters as asked in the address, with a message for each part that was dropped."""
    problems: list[str] = []
    status = request.GET.get("status") or selectors.Status.INBOX
    if status not in (*selectors.STATUS_FILTERS, selectors.Status.INBOX):
        problems.append(f"Unknown status “{status[:40]}”; showing all.")
        status = selectors.Status.INBOX
    all_categories = list(selectors.category_list())
    known = {c.slug for c in all_categories}
    asked_categories = [c for c in request.GET.getlist("category") if c]
    categories = [c for c in asked_categories if c in known]
    asked_priorities = [p for p in request.GET.getlist("priority") if p]
    priorities = [p for p in asked_priorities if p in Priority.values]
    if len(categories) < len(asked_categories) or len(priorities) < len(asked_priorities):
        problems.append("Some categories or priorities in the address do not exist; they were ignored.")
    since_day = _parse_date(request.GET.get("since", ""), "From", problems)
    until_day = _parse_date(request.GET.get("until", ""), "To", problems)
    if since_day and until_day and since_day > until_day:
        problems.append(f"“From” ({since_day}) is after “To” ({until_day}); showing nothing until that is fixed.")
    return {
        "status": status,
        "all_categories": all_categories,
        "categories": categories,
        "priorities": priorities,
        "search": request.GET.get("q", "").strip()[:SEARCH_MAX],
        "since_day": since_day,
        "until_day": until_day,
        "since": datetime.combine(since_day, time.min, tzinfo=zone) if since_day else None,
        "before": datetime.combine(until_day + timedelta(days=1), time.min, tzinfo=zone) if until_day else None,
        "problems": problems,
    }


def _center_links(request: AuthedRequest, page: list[Notification], has_more: bool) -> dict[str, Any]:
    """Links of the page: older ("load more"), back to the newest, each tab with the other filters kept."""
    next_url = newest_url = None
    if has_more:
        query = request.GET.copy()
        query["before_seq"] = str(page[-1].seq)
        next_url = f"?{query.urlencode()}"
    if request.GET.get("before_seq", ""):
        query = request.GET.copy()
        query.pop("before_seq", None)
        newest_url = f"?{query.urlencode()}"
    tab_query = request.GET.copy()
    for key in ("status", "before_seq"):
        tab_query.pop(key, None)
    return {
        "tabs": [(value, label, f"?{_with_status(tab_query, value)}") for value, label in TABS],
        "newest_url": newest_url,
        "next_url": next_url,
    }


@login_required
def center(request: AuthedRequest) -> HttpResponse:
    """The notification center: history newest first, filters, search, cursor pagination by seq ("load more")."""
    zone = user_zone(user=request.user)
    f = _center_filters(request, zone)
    qs = selectors.notification_list(
        user=request.user,
        status=f["status"],
        categories=f["categories"],
        priorities=f["priorities"],
        since=f["since"],
        before=f["before"],
        search=f["search"],
    )
    # The inbox and the unread tab group by group_key (?view=flat shows every row); the other views list rows.
    grouped = f["status"] in GROUPED_VIEWS and request.GET.get("view") != "flat"
    if grouped:
        qs = grouping.notifications_grouped(qs, user=request.user)
    before_seq = request.GET.get("before_seq", "")
    cursor = query_int(before_seq, maximum=SEQ_MAX)
    if cursor is not None:
        qs = qs.filter(seq__lt=cursor)
    page = list(qs[: PAGE_SIZE + 1])
    has_more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    if grouped:
        items = _with_days(grouping.notification_items_grouped(user=request.user, page=page), zone)
    else:
        items = _with_days([notification_item(n) for n in page], zone)
    for item in items:
        if item["snoozed_until"]:
            item["snoozed_label"] = snooze_label(datetime.fromisoformat(item["snoozed_until"]), zone)
    since_day, until_day = f["since_day"], f["until_day"]
    context = {
        "items": items,
        **snooze_menu(zone),
        **_center_links(request, page, has_more),
        "status": f["status"],
        "categories": f["all_categories"],
        "priorities": Priority.choices,
        "selected_categories": f["categories"],
        "selected_priorities": f["priorities"],
        "search": f["search"],
        "since": since_day.isoformat() if since_day else "",
        "until": until_day.isoformat() if until_day else "",
        "problems": f["problems"],
        "filtered": bool(f["categories"] or f["priorities"] or since_day or until_day or f["search"]),
        "clear_url": f"?{_with_status(request.GET.__class__(mutable=True), f['status'])}",
        "is_first_page": not before_seq,
        "grouped": grouped,
        "time_zone": str(zone),
    }
    return render(request, "notifications/center.html", context)


def _with_status(query: QueryDict, status: str) -> str:
    query = query.copy()
    if status != selectors.Status.INBOX:
        query["status"] = status
    return query.urlencode()


def _back(request: AuthedRequest, default: str = "/notifications/") -> HttpResponse:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return redirect(target)


STATE_ACTIONS: dict[str, dict[str, bool]] = {
    "read": {"read": True},
    "unread": {"read": False},
    "archive": {"archived": True},
    "unarchive": {"archived": False},
    "save": {"saved": True},
    "unsave": {"saved": False},
}


@login_required
@require_POST
def notification_state(request: AuthedRequest, id: str) -> HttpResponse:
    changes = STATE_ACTIONS.get(request.POST.get("action") or "")
    if changes is None:
        return HttpResponse("Unknown action.", status=400, content_type="text/plain")
    try:
        notification = selectors.notification_get(user=request.user, id=id)
    except Notification.DoesNotExist:
        raise Http404 from None
    ids: list[Any] = [id]
    if request.POST.get("group"):
        # A grouped item's buttons act on the group: its unread members up to this one (what the person saw).
        ids = list(grouping.group_members(user=request.user, notification=notification).values_list("uuid", flat=True))
    changed = services.notification_update_state(user=request.user, ids=ids, **changes)
    if wants_json(request):
        return JsonResponse({"changed": [str(i) for i in changed], **changes, **_counts(request)})
    return _back(request)


def _counts(request: AuthedRequest) -> dict[str, int]:
    """The counts a JSON answer carries: rows (unread_count, as before) and with each group once (the bell)."""
    counts = grouping.notification_unread_counts(user=request.user)  # both in one query
    return {"unread_count": counts["rows"], "unread_groups": counts["groups"]}


@login_required
@require_POST
def notification_snooze(request: AuthedRequest, id: str) -> HttpResponse:
    """The item's snooze menu: a preset (in the user's zone), a chosen time, or "off" (back now)."""
    try:
        selectors.notification_get(user=request.user, id=id)
    except Notification.DoesNotExist:
        raise Http404 from None
    zone = user_zone(user=request.user)
    until, error = snooze_until_asked(request.POST, zone)
    changed: list = []
    if not error:
        try:
            changed = services.notification_snooze(user=request.user, ids=[id], until=until)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    label = snooze_label(until, zone) if until is not None else ""
    if wants_json(request):
        if error:
            return JsonResponse({"errors": {"until": [error]}}, status=400)
        return JsonResponse(
            {
                "changed": [str(i) for i in changed],
                "snoozed_until": until.isoformat() if until is not None else None,
                "label": label,
                **_counts(request),
            }
        )
    if error:
        messages.error(request, error)
    elif until is None:
        messages.success(request, "Back in your inbox.")
    else:
        messages.success(request, f"Snoozed until {label}.")
    return _back(request)


BULK_MAX = 500
UNDO_IDS_MAX = 1000


@login_required
@require_POST
def notifications_bulk_state(request: AuthedRequest) -> HttpResponse:
    """Read, unread, archive, unarchive, save or unsave several of the user's notifications (selection, undo, the
    offline queue)."""
    changes = STATE_ACTIONS.get(request.POST.get("action") or "")
    ids = request.POST.getlist("ids")
    if changes is None or not ids or len(ids) > BULK_MAX:
        message = "Choose an action." if changes is None else f"Select between 1 and {BULK_MAX} notifications."
        if wants_json(request):
            return JsonResponse({"errors": {"__all__": [message]}}, status=400)
        messages.error(request, message)
        return _back(request)
    changed = services.notification_update_state(user=request.user, ids=ids, **changes)
    if wants_json(request):
        return JsonResponse({"changed": [str(i) for i in changed], **changes, **_counts(request)})
    messages.success(request, f"Updated {len(changed)} notification{'s' if len(changed) != 1 else ''}.")
    return _back(request)


@login_required
@require_POST
def mark_all_read(request: AuthedRequest) -> HttpResponse:
    # The ids let the page offer "Undo" (they are the user's own, so nothing leaks).
    ids = list(
        selectors.notification_list(user=request.user, status=selectors.Status.ALL)
        .filter(read_at__isnull=True, snoozed_until__isnull=True)
        .values_list("uuid", flat=True)[: UNDO_IDS_MAX + 1]
    )
    updated = services.notification_mark_all_read(user=request.user)
    if wants_json(request):
        undo = [str(i) for i in ids] if len(ids) <= UNDO_IDS_MAX and updated == len(ids) else []
        return JsonResponse({"updated": updated, "unread_count": 0, "unread_groups": 0, "ids": undo})
    if updated:
        messages.success(request, f"Marked {updated} notification{'s' if updated != 1 else ''} as read.")
    return _back(request)


@login_required
@require_POST
def send_test(request: AuthedRequest) -> HttpResponse:
    """Send the logged-in user (and only them) a notification of the chosen category and priority."""
    user = request.user
    producer = f"self-test:{user.pk}"
    recent = Content.objects.filter(producer=producer, created_at__gte=timezone.now() - SELF_TEST_WINDOW).count()
    errors: dict[str, list[str]] = {}
    if recent >= SELF_TEST_LIMIT:
        errors = {"__all__": [f"At most {SELF_TEST_LIMIT} test notifications per minute. Try again shortly."]}
        status_code = 429
    else:
        category = Category.objects.filter(slug=request.POST.get("category", "")).first()
        priority = request.POST.get("priority") or None
        title = (request.POST.get("title") or "").strip()
        if category is None:
            errors = {"category": ["Choose a category."]}
        else:
            label = category.label
            try:
                services.notify(
                    recipients=[user],
                    category=category,
                    priority=priority,
                    title=title or f"Test: {label}",
                    body=f"A test notification you sent yourself ({label}, {priority or category.default_priority}).",
                    url="/notifications/",
                    actor=user,
                    producer=producer,
                )
            except ValidationError as exc:
                errors = exc.message_dict
        status_code = 400
    if wants_json(request):
        return JsonResponse({"errors": errors} if errors else {"sent": True}, status=status_code if errors else 201)
    if errors:
        for message_list in errors.values():
            for message in message_list:
                messages.error(request, message)
    else:
        messages.success(request, "Test notification sent.")
    return _back(request)


@require_GET
@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponseBase:
    """The web-push service worker, served from the site root so its scope is the whole site."""
    if not SERVICE_WORKER.exists():
        raise Http404
    response = FileResponse(SERVICE_WORKER.open("rb"), content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response
