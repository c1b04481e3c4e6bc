"""Server-rendered pages. Every state change is a POST with CSRF (never a GET link)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import selectors, services
from .models import Notification
from .payloads import notification_payload

PAGE_SIZE = 25


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("notifications:center")
    return redirect("login")


@login_required
def center(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or selectors.Status.INBOX
    if status not in selectors.Status.CHOICES:
        status = selectors.Status.INBOX
    categories = [c for c in request.GET.getlist("category") if c]
    qs = selectors.notification_list(user=request.user, status=status, categories=categories)
    before_seq = request.GET.get("before_seq", "")
    if before_seq.isdigit():
        qs = qs.filter(seq__lt=int(before_seq))
    page = list(qs[: PAGE_SIZE + 1])
    has_more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    return render(
        request,
        "notifications/center.html",
        {
            "items": [notification_payload(n) for n in page],
            "status": status,
            "categories": selectors.category_list(),
            "selected_categories": categories,
            "next_before_seq": page[-1].seq if has_more else None,
            "unread_count": selectors.notification_unread_count(user=request.user),
        },
    )


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/notifications/"
    return redirect(target)


@login_required
@require_POST
def notification_state(request: HttpRequest, id: str) -> HttpResponse:
    action = request.POST.get("action")
    changes = {
        "read": {"read": True},
        "unread": {"read": False},
        "archive": {"archived": True},
        "unarchive": {"archived": False},
    }.get(action or "")
    if changes is None:
        return HttpResponse("Unknown action.", status=400)
    try:
        selectors.notification_get(user=request.user, id=id)
    except Notification.DoesNotExist:
        raise Http404 from None
    services.notification_update_state(user=request.user, ids=[id], **changes)
    return _back(request)


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    services.notification_mark_all_read(user=request.user)
    return _back(request)
