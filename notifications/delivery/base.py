"""The one interface every external delivery channel implements, and what they share.

A delivery channel gets a batch of `Message`s (one per Delivery row, everything already loaded: no queries) and
reports one `Outcome` per message as soon as it is known. The state machine (machine.py) turns outcomes into row
states; the delivery channel never touches Delivery rows. Device deactivation on token-level errors is the `gone`
outcome.
"""

import hashlib
import hmac
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone

from preferences.models import UserSettings

from ..models import Category, Content, Delivery, Notification

logger = logging.getLogger(__name__)

GENERIC_TITLE = "You have a new notification"
GENERIC_BODY = "Sign in to read it."


@dataclass
class Message:
    delivery: Delivery
    notification: Notification
    content: Content
    category: Category
    user: Any  # the AUTH_USER_MODEL instance
    user_settings: UserSettings
    device: Any = None


@dataclass(frozen=True)
class Outcome:
    """sent; retry (transient: 429, 5xx, timeouts, auth); dead (permanent: payload); gone (the token is dead)."""

    kind: str
    error: str = ""
    retry_after: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    SENT = "sent"
    RETRY = "retry"
    DEAD = "dead"
    GONE = "gone"


SENT = Outcome(Outcome.SENT)


def retry(error: str, retry_after: float | None = None) -> Outcome:
    return Outcome(Outcome.RETRY, error[:500], retry_after)


def dead(error: str) -> Outcome:
    return Outcome(Outcome.DEAD, error[:500])


def gone(error: str) -> Outcome:
    return Outcome(Outcome.GONE, error[:500])


class DeliveryChannel(Protocol):
    """One external delivery channel (email, APNs, FCM, Web Push)."""

    name: str

    def is_configured(self) -> bool: ...

    def send(self, messages: list[Message]) -> Iterable[tuple[int, Outcome]]:
        """(index into messages, outcome) as each result is known: the state machine records a `sent` at once,
        so a worker killed mid-batch re-sends at most the one message in flight."""
        ...


def absolute_url(path: str) -> str:
    if not path:
        return settings.SITE_URL.rstrip("/") + "/notifications/"
    if path.startswith("/"):
        return settings.SITE_URL.rstrip("/") + path
    return path


@dataclass(frozen=True)
class Visible:
    """What a push or an email may show. Private categories: generic text and the notification center link only."""

    title: str
    body: str
    url: str
    private: bool


def push_group_key(message: Message) -> str:
    """The group_key as push services and lock screens see it (Web Push tag/Topic, APNs thread-id/collapse-id,
    FCM collapse_key). A private category's key ("password-reset:alice") is replaced by a keyed digest: still
    stable, so collapsing works, but it says nothing to Apple, Google or anyone reading the device."""
    return push_group_key_of(message.content, message.category)


def push_group_key_of(content: Content, category: Category) -> str:
    """push_group_key of a send, without a Message (a retraction closes what was shown under it)."""
    key = content.group_key
    if not key or not category.is_private:
        return key
    digest = hmac.new(settings.SECRET_KEY.encode(), b"push-group:" + key.encode(), hashlib.sha256).hexdigest()
    return f"g-{digest[:32]}"


def visible_text(message: Message, *, include_content: bool = True) -> Visible:
    if message.category.is_private or not include_content:
        return Visible(GENERIC_TITLE, GENERIC_BODY, absolute_url(""), private=True)
    return Visible(message.content.title, message.content.body, absolute_url(message.content.url), private=False)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


class Breaker:
    """Trips when most tokens of one batch fail at once: that smells like a provider or configuration fault (wrong
    topic, revoked key), not like a thousand users uninstalling the app in the same second. Tripped, token errors
    retry instead of deactivating devices, and the delivery channel pauses. Per process, in memory."""

    MIN_BATCH = 5
    RATIO = 0.5
    PAUSE = 300.0

    def __init__(self, name: str) -> None:
        self.name = name
        self.open_until = 0.0

    def remaining(self) -> float:
        return max(0.0, self.open_until - time.monotonic())

    def reset(self) -> None:
        self.open_until = 0.0

    def guard(self, outcomes: list[Outcome]) -> list[Outcome]:
        """The outcomes to record: unchanged, or with every `gone` turned into a retry when the breaker trips."""
        gone_count = sum(1 for o in outcomes if o.kind == Outcome.GONE)
        if len(outcomes) < self.MIN_BATCH or gone_count <= len(outcomes) * self.RATIO:
            return outcomes
        self.open_until = time.monotonic() + self.PAUSE
        logger.error(
            "%s breaker tripped: %d of %d tokens rejected at once; no device deactivated, pausing %.0f s",
            self.name,
            gone_count,
            len(outcomes),
            self.PAUSE,
        )
        error = f"breaker: {gone_count}/{len(outcomes)} token errors in one batch"
        return [retry(error, self.PAUSE) if o.kind == Outcome.GONE else o for o in outcomes]
