"""Outbound webhooks: batches of recorded events, signed, posted, through the delivery states (states.py).

    WebhookEventPending rows (webhook_events.py)
      --webhook_batches_form--> WebhookDelivery (pending; body built once, up to WEBHOOK_BATCH_SIZE events)
      --webhooks_dispatch--> a task per due batch --webhook_deliveries_send--> sent / failed (backoff) / dead

Each POST carries the body (JSON), `Webhook-Timestamp` (Unix seconds) and `Webhook-Signature: v1=<hex>`, the
HMAC-SHA256 of "<timestamp>.<body>" under the endpoint's secret (docs/webhooks.md shows how to verify it). The URL is
checked again before every post, after DNS resolution, and the connection goes to the very address that was checked;
redirects are never followed. Private categories send ids and state only, never title, body, url or data.

An endpoint whose posts fail WEBHOOK_DISABLE_AFTER_FAILURES times in a row, over at least
WEBHOOK_DISABLE_AFTER_SECONDS, is disabled: its waiting batches go dead (staff can retry them once it is fixed) and
the site's admins get an email.
"""

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from .. import jobs
from ..models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEventPending
from ..outbound import Target, UnsafeEndpoint, webhook_url_check
from .base import SENT, Outcome, parse_retry_after, retry
from .base import dead as dead_outcome
from .states import ACTIVE, lock, outcome_apply, rows_claim, rows_retry_dead, rows_sweep_stuck
from .webhook_events import WEBHOOKS_TASK, webhook_endpoints_changed

logger = logging.getLogger(__name__)

SEND_TASK = "notifications.tasks.webhook_send"
SIGNATURE_HEADER = "Webhook-Signature"
TIMESTAMP_HEADER = "Webhook-Timestamp"
ID_HEADER = "Webhook-Id"
RESPONSE_READ_MAX = 64 * 1024


def webhook_sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


# --- Batches ------------------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _event_payload(event: WebhookEventPending) -> dict[str, Any]:
    n = event.notification
    content, category = n.content, n.category
    notification: dict[str, Any] = {
        "id": str(n.uuid),
        "send_id": str(content.uuid),
        "recipient": n.recipient_id,
        "seq": n.seq,
        "category": category.slug,
        "priority": content.priority,
        "private": category.is_private,
        "created_at": _iso(n.created_at),
        "read_at": _iso(n.read_at),
        "archived_at": _iso(n.archived_at),
        "retracted_at": _iso(content.retracted_at),  # set: the producer retracted the send
    }
    if not category.is_private:  # private: ids and state only
        notification.update(
            title=content.title, body=content.body, url=content.url, data=content.data, group_key=content.group_key
        )
    payload: dict[str, Any] = {
        "id": f"evt_{event.pk}",
        "type": event.event,
        "occurred_at": _iso(event.occurred_at),
        "notification": notification,
    }
    if event.event.startswith("delivery."):
        payload["channel"] = event.event.split(".")[1]
    return payload


def _batch_body(delivery: WebhookDelivery, endpoint: WebhookEndpoint, events: list[dict[str, Any]]) -> str:
    body = {"id": str(delivery.uuid), "endpoint": str(endpoint.uuid), "events": events}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def webhook_batches_form(*, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Group pending events per endpoint into batches (at most WEBHOOK_BATCH_SIZE events, at most `limit` batches
    per call); each batch is one transaction that writes the batch and deletes its events. Events of a disabled
    endpoint are dropped. Rows are taken with SKIP LOCKED: two workers never batch the same event. Returns the new
    batches' ids."""
    now = now or timezone.now()
    size = max(1, settings.WEBHOOK_BATCH_SIZE)
    formed: list[int] = []
    endpoint_ids = list(WebhookEventPending.objects.values_list("endpoint_id", flat=True).distinct().order_by())
    for endpoint_id in sorted(set(endpoint_ids)):
        endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
        if endpoint is None:
            continue
        if not endpoint.active:
            WebhookEventPending.objects.filter(endpoint_id=endpoint_id).delete()
            continue
        while len(formed) < limit:
            with transaction.atomic():
                events = list(
                    lock(WebhookEventPending.objects.filter(endpoint_id=endpoint_id))
                    .select_related("notification__content", "notification__category")
                    .order_by("pk")[:size]
                )
                if not events:
                    break
                delivery = WebhookDelivery(endpoint=endpoint, event_count=len(events), due_at=now, body="")
                delivery.body = _batch_body(delivery, endpoint, [_event_payload(e) for e in events])
                delivery.save(force_insert=True)
                WebhookEventPending.objects.filter(pk__in=[e.pk for e in events]).delete()
            formed.append(delivery.pk)
            if len(events) < size:
                break
    return formed


def webhooks_dispatch(*, now: datetime | None = None, limit: int = 500) -> int:
    """The worker woken after events were recorded, and the periodic sweep: put back batches a dead worker left
    `sending`, form new batches, and hand every due batch not leased to a send task (one per batch). Returns how
    many were handed out."""
    now = now or timezone.now()
    requeued, dead = rows_sweep_stuck(WebhookDelivery, now=now, max_attempts=settings.WEBHOOK_MAX_ATTEMPTS)
    if requeued or dead:
        logger.warning("webhooks: %d batches re-queued, %d dead after a lost worker", requeued, len(dead))
    webhook_batches_form(now=now)
    lease = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    unleased = Q(leased_until__isnull=True) | Q(leased_until__lte=now)
    with transaction.atomic():
        ids = list(
            lock(WebhookDelivery.objects.filter(status__in=ACTIVE, due_at__lte=now).filter(unleased))
            .order_by("due_at")
            .values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(leased_until=now + lease)
    for pk in ids:
        jobs.enqueue(SEND_TASK, [pk])
    return len(ids)


def webhook_deliveries_retry_dead(*, deliveries: QuerySet[WebhookDelivery]) -> int:
    """Staff's "retry dead": dead batches among these go back to pending, due now, with a fresh attempt budget; a
    worker is woken after commit (embedded mode: the scheduler's next run), the periodic run finds them anyway."""
    with transaction.atomic():
        retried = rows_retry_dead(deliveries, timezone.now())
        if retried:
            jobs.wake_worker_on_commit(WEBHOOKS_TASK)
    if retried:
        logger.info("retry: %d dead webhook deliveries back to pending", retried)
    return retried


# --- Posting ------------------------------------------------------------------------------------------------------


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _post(target: Target, body: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
    """POST to the checked address (never re-resolved), no redirects, no retries here: (status, Retry-After)."""
    address = target.address or target.host
    timeout = urllib3.Timeout(connect=settings.WEBHOOK_TIMEOUT, read=settings.WEBHOOK_TIMEOUT)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=timeout,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": _host_header(target)},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            response.read(RESPONSE_READ_MAX)  # what the receiver says is not used; a huge answer is not read
        finally:
            response.release_conn()
        return response.status, response.headers.get("Retry-After")
    finally:
        pool.close()


def _outcome(status: int, retry_after: str | None) -> Outcome:
    if 200 <= status < 300:
        return SENT
    if 300 <= status < 400:
        return retry(f"HTTP {status}: redirects are not followed")
    return retry(f"HTTP {status}", parse_retry_after(retry_after))


def _send_one(delivery: WebhookDelivery) -> Outcome:
    endpoint = delivery.endpoint
    if not endpoint.active:
        return dead_outcome("endpoint disabled")
    try:
        target = webhook_url_check(endpoint.url, resolve=True)
    except UnsafeEndpoint as exc:  # DNS changed since registration, or the rules did: never posted to
        logger.warning("webhook endpoint %s refused at send time: %s", endpoint.pk, exc)
        return dead_outcome(f"endpoint refused ({exc})")
    body = delivery.body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "notifications-webhooks/1",
        ID_HEADER: str(delivery.uuid),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: webhook_sign(endpoint.secret, timestamp, body),
    }
    try:
        status, retry_after = _post(target, body, headers)
    except urllib3.exceptions.HTTPError as exc:
        return retry(f"{type(exc).__name__}")
    except OSError as exc:
        return retry(f"{type(exc).__name__}")
    delivery.response_status = status
    return _outcome(status, retry_after)


def webhook_deliveries_send(*, delivery_ids: Sequence[int]) -> dict[str, int]:
    """Claim, post, record, like deliveries_send: ids not claimable (sent, dead, not due, taken by another worker)
    are ignored, so a duplicate task message posts nothing. A batch is marked the moment its post is answered."""
    counts: dict[str, int] = {}
    now = timezone.now()
    for pk in rows_claim(WebhookDelivery, delivery_ids, now):
        delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=pk)
        try:
            outcome = _send_one(delivery)
        except Exception as exc:  # a bug must not leave the row `sending`
            logger.exception("webhook delivery %s failed unexpectedly", pk)
            outcome = retry(type(exc).__name__)
        _record(delivery, outcome)
        counts[delivery.status] = counts.get(delivery.status, 0) + 1
    if counts:
        logger.info("webhook deliveries: %s", counts)
    return counts


def _record(delivery: WebhookDelivery, outcome: Outcome) -> None:
    now = timezone.now()
    endpoint = delivery.endpoint
    if outcome.kind == Outcome.SENT:
        delivery.status, delivery.sent_at, delivery.last_error = DeliveryStatus.SENT, now, ""
        delivery.updated_at, delivery.leased_until = now, None
    else:
        outcome_apply(delivery, outcome, now, max_attempts=settings.WEBHOOK_MAX_ATTEMPTS)
    with transaction.atomic():
        delivery.save(
            update_fields=["status", "sent_at", "last_error", "due_at", "updated_at", "leased_until", "response_status"]
        )
        if outcome.kind == Outcome.SENT:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0, failing_since=None)
        elif endpoint.active:
            _failure_count(endpoint, now)


def _failure_count(endpoint: WebhookEndpoint, now: datetime) -> None:
    """One more failed post in a row; sustained failure disables the endpoint and tells staff."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    current = WebhookEndpoint.objects.get(pk=endpoint.pk)
    since = current.failing_since or now
    sustained = now - since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS)
    if current.active and current.consecutive_failures >= settings.WEBHOOK_DISABLE_AFTER_FAILURES and sustained:
        webhook_endpoint_disable(
            endpoint=current,
            reason=f"{current.consecutive_failures} failed posts in a row since {since:%Y-%m-%d %H:%M} UTC",
        )


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> None:
    """Stop posting to this endpoint: it takes no new events, its waiting batches go dead (visible in the admin,
    retried by staff once the receiver is fixed), and the site's admins are told by email (after commit)."""
    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            active=False, disabled_at=now, disabled_reason=reason[:300], updated_at=now
        )
        WebhookDelivery.objects.filter(endpoint=endpoint, status__in=ACTIVE).update(
            status=DeliveryStatus.DEAD, last_error="endpoint disabled", updated_at=now, leased_until=None
        )
        WebhookEventPending.objects.filter(endpoint=endpoint).delete()
        webhook_endpoints_changed()
        origin, pk = url_origin(endpoint.url), endpoint.pk
        transaction.on_commit(lambda: _tell_staff(pk, origin, reason))
    endpoint.active, endpoint.disabled_at, endpoint.disabled_reason = False, now, reason[:300]


def url_origin(url: str) -> str:
    """What a notice may say about a URL: scheme and host (a path can hold a receiver's own token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _tell_staff(pk: int, url: str, reason: str) -> None:
    logger.error("webhook endpoint %s disabled after sustained failure: %s", pk, reason)
    try:
        mail_admins(
            "Webhook endpoint disabled",
            f"The webhook endpoint {pk} ({url}) was disabled: {reason}.\n\n"
            "Its waiting deliveries are dead. Fix the receiver, enable the endpoint again in the admin and retry the "
            "dead deliveries there.",
        )
    except Exception:  # the notice is best effort; the admin shows the endpoint disabled either way
        logger.exception("could not email admins about webhook endpoint %s", pk)
