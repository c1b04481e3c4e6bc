"""Token authentication without a database query per request.

Producers call the API with the same token thousands of times a second; DRF's TokenAuthentication reads the token
and its user on every call, and the send permission check reads the user's permissions. Here both come from a
per-process copy (process_cache.py) that any change clears in every process: a token deleted or re-keyed, a user
saved (deactivated, demoted, password changed), a permission or group membership changed. CACHE_SECONDS_API_TOKENS
bounds the staleness if an announcement is lost. A request gets its own copy of the user, never the shared one.
"""

import copy
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from ..process_cache import ProcessCache
from .permissions import notification_perms_load


@dataclass(frozen=True)
class _Principal:
    user: Any
    token: Token


_principals: ProcessCache[_Principal] = ProcessCache("api-tokens", ttl=lambda: settings.API_TOKEN_CACHE_SECONDS)


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication (same header, same errors), served from the per-process copy."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        principal = _principals.get(key)
        if principal is None:
            started = time.monotonic()
            try:
                token = Token.objects.select_related("user").get(key=key)
            except Token.DoesNotExist:
                raise exceptions.AuthenticationFailed(_("Invalid token."))
            if not token.user.is_active:
                raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
            token.user.notification_perms = notification_perms_load(token.user)
            principal = _Principal(user=token.user, token=token)
            _principals.put(key, principal, loaded_at=started)
        # Copies: a view may annotate its request's user or token; the shared instances stay as loaded.
        return copy.copy(principal.user), copy.copy(principal.token)


def api_tokens_changed(sender: Any = None, **kwargs: Any) -> None:
    """A token, user, group or permission changed: every process forgets its principals."""
    _principals.changed()
