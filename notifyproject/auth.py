"""Sign-in with attempt budgets: password guessing gets 429 with Retry-After, per client address and per username."""

import hashlib
import math
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from notifications.api.throttling import rate_hit, rate_parse


def _spent(key: str, rate_setting: str) -> float | None:
    parsed = rate_parse(getattr(settings, rate_setting, ""))
    if parsed is None:
        return None
    limit, window = parsed
    try:
        allowed, wait = rate_hit(key=key, limit=limit, window=window)
    except redis.RedisError:  # the budget is a guard, not a dependency: sign-in keeps working without Redis
        return None
    return None if allowed else wait


def login_budget_spent(request: HttpRequest) -> float | None:
    """Seconds until another attempt is allowed, or None. Every attempt counts, successful or not. The address is
    the connection's own (REMOTE_ADDR); a proxy in front must pass the client's address as the connection's."""
    username = str(request.POST.get("username", ""))[:150].strip().lower()
    user_key = hashlib.sha256(username.encode()).hexdigest()[:32]
    waits = [
        _spent(f"login:ip:{request.META.get('REMOTE_ADDR', '')}", "LOGIN_RATE_ADDRESS"),
        _spent(f"login:user:{user_key}", "LOGIN_RATE_USERNAME"),
    ]
    spent = [w for w in waits if w is not None]
    return max(spent) if spent else None


class LoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = login_budget_spent(request)
        if wait is None:
            return super().post(request, *args, **kwargs)
        response = self.render_to_response(self.get_context_data(throttled=True), status=429)
        response["Retry-After"] = str(math.ceil(wait))
        return response
