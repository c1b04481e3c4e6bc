"""What the sync and the async client share: request bodies, the retry policy, and how answers become results or
errors. The two clients only differ in how they wait and do I/O."""

import email.utils
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict
from urllib.parse import quote

import httpx

from . import errors
from .models import BulkItemResult, Queued, Retraction, SendResult

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
BULK_MAX = 1000  # items per send-bulk call (the API's limit)
DEFAULT_TIMEOUT = 10.0
USER_AGENT = "notify-client/1.0"

SEND_PATH = "/api/v1/notifications/send/"
BULK_PATH = "/api/v1/notifications/send-bulk/"
TICKET_PATH = "/api/v1/ws-tickets/"


SENDS_PATH = "/api/v1/notifications/sends/"
RETRACT_GROUP_PATH = "/api/v1/notifications/retract/"


class UpdateFields(TypedDict, total=False):
    """What an update may change (docs/api.md, PATCH sends/<id>/)."""

    title: str
    body: str
    url: str
    image_url: str
    actions: list[dict[str, str]]
    data: dict[str, Any]


class SendFields(TypedDict, total=False):
    """What a send says (docs/api.md, POST send/); the recipients are given separately."""

    category: str
    title: str
    body: str
    url: str
    image_url: str
    actions: list[dict[str, str]]
    data: dict[str, Any]
    group_key: str
    priority: str
    expires_at: str | None


@dataclass(frozen=True)
class RetryPolicy:
    """Retries on connection errors, 5xx, 409 (same key in flight) and 429, never on other 4xx.

    The wait before attempt n+1 is the server's Retry-After when it sent one, else a random time up to
    backoff * 2**n (full jitter: many clients retrying after one outage spread out), capped at max_backoff.
    """

    max_attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0

    def wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))


def _retryable(status: int) -> bool:
    return status >= 500 or status in (409, 429)


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, given as seconds or as an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


_ERRORS: dict[int, type[errors.NotifyError]] = {
    400: errors.ValidationFailed,
    401: errors.AuthenticationFailed,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.InFlight,
    422: errors.IdempotencyMismatch,
}


def error_for(response: httpx.Response) -> errors.NotifyError:
    status, detail = response.status_code, _body(response)
    message = f"{response.request.method} {response.request.url.path}: {status}"
    if isinstance(detail, dict) and isinstance(detail.get("detail"), str):
        message += f" {detail['detail']}"
    if status == 429:
        return errors.RateLimited(message, status=status, detail=detail, retry_after=retry_after(response))
    if status >= 500:
        return errors.ServerError(message, status=status, detail=detail)
    return _ERRORS.get(status, errors.NotifyError)(message, status=status, detail=detail)


@dataclass
class Attempt:
    """One request and its retries: `after()` is told how an attempt went and says how long to wait before the
    next one, or raises the error to give up with. The headers (with the Idempotency-Key) are the same on every
    attempt, so a send the server did get but whose answer was lost is answered from its record, not sent twice."""

    policy: RetryPolicy
    method: str
    path: str
    json: Any = None
    headers: Mapping[str, str] | None = None
    number: int = 0
    conflict: type[errors.NotifyError] | None = None  # a 409 that means this, not "in flight": never retried

    def after(self, response: httpx.Response | None, failure: Exception | None = None) -> float:
        """Raises when this is the end; returns the seconds to wait otherwise. `response` None: `failure` is the
        transport error."""
        last = self.number + 1 >= self.policy.max_attempts
        if response is None:
            error: errors.NotifyError = errors.ConnectionFailed(f"{self.method} {self.path}: {failure}")
            hint = None
        else:
            if response.status_code == 409 and self.conflict is not None:
                raise self.conflict(f"{self.method} {self.path}: 409", status=409, detail=_body(response))
            error = error_for(response)
            if not _retryable(response.status_code):
                raise error
            hint = retry_after(response)
        if last:
            raise error from failure
        delay = self.policy.wait(self.number, hint)
        self.number += 1
        return delay


def new_key() -> str:
    return str(uuid.uuid4())


def send_request(
    policy: RetryPolicy,
    *,
    recipients: Sequence[int] | None,
    recipient_usernames: Sequence[str] | None,
    audience: str | None,
    idempotency_key: str | None,
    fields: SendFields,
) -> Attempt:
    body: dict[str, Any] = {k: v for k, v in fields.items() if v is not None or k == "expires_at"}
    for name, value in (("recipients", recipients), ("recipient_usernames", recipient_usernames)):
        if value is not None:
            body[name] = list(value)
    if audience is not None:
        body["audience"] = audience
    return Attempt(policy, "POST", SEND_PATH, body, {IDEMPOTENCY_HEADER: idempotency_key or new_key()})


def send_result(response: httpx.Response) -> SendResult:
    body = response.json()
    return SendResult(
        id=body["id"],
        recipient_count=body["recipient_count"],
        notification_ids=list(body.get("notification_ids", [])),
        replayed=response.headers.get(REPLAY_HEADER) == "true",
    )


def queued_result(response: httpx.Response) -> Queued:
    body = response.json()
    return Queued(id=body["id"], status=body["status"])


def bulk_chunks(items: Sequence[Mapping[str, Any]], size: int) -> list[tuple[int, list[dict[str, Any]]]]:
    """(index of the first item, items) per call: the API takes at most BULK_MAX items, all or nothing."""
    if not 1 <= size <= BULK_MAX:
        raise ValueError(f"chunk size must be 1..{BULK_MAX}")
    return [(start, [dict(item) for item in items[start : start + size]]) for start in range(0, len(items), size)]


def bulk_request(policy: RetryPolicy, chunk: list[dict[str, Any]]) -> Attempt:
    return Attempt(policy, "POST", BULK_PATH, {"notifications": chunk}, {IDEMPOTENCY_HEADER: new_key()})


def bulk_results(
    start: int, chunk: list[dict[str, Any]], response: httpx.Response | None, error: Exception | None
) -> list[BulkItemResult]:
    """Every item's result for one call: its send id, or the call's error with the item's own field errors."""
    if response is not None:
        ids = response.json()["ids"]
        return [BulkItemResult(index=start + i, id=ids[i]) for i in range(len(chunk))]
    assert isinstance(error, errors.NotifyError)
    per_item = error.errors.get("notifications") if isinstance(error, errors.ValidationFailed) else None
    results: list[BulkItemResult] = []
    for i in range(len(chunk)):
        own = per_item[i] if isinstance(per_item, list) and i < len(per_item) and isinstance(per_item[i], dict) else {}
        results.append(BulkItemResult(index=start + i, error=error, errors=own))
    return results


def _send_path(send_id: str) -> str:
    return f"{SENDS_PATH}{quote(str(send_id), safe='')}/"


def update_request(policy: RetryPolicy, send_id: str, fields: UpdateFields) -> Attempt:
    """The same PATCH again changes nothing more: safe to retry."""
    return Attempt(policy, "PATCH", _send_path(send_id), dict(fields), conflict=errors.Retracted)


def retract_request(policy: RetryPolicy, send_id: str) -> Attempt:
    """Retracting again answers the same: safe to retry."""
    return Attempt(policy, "POST", f"{_send_path(send_id)}retract/", {})


def retract_group_request(policy: RetryPolicy, group_key: str) -> Attempt:
    return Attempt(policy, "POST", RETRACT_GROUP_PATH, {"group_key": group_key})


def retraction_result(response: httpx.Response) -> Retraction:
    body = response.json()
    return Retraction(sends=int(body["sends"]), notifications=int(body["notifications"]))


def ticket_request(policy: RetryPolicy) -> Attempt:
    return Attempt(policy, "POST", TICKET_PATH, {})


def http_options(base_url: str, token: str, timeout: float) -> dict[str, Any]:
    return {
        "base_url": base_url.rstrip("/"),
        "headers": {"Authorization": f"Token {token}", "User-Agent": USER_AGENT},
        "timeout": httpx.Timeout(timeout),
        "follow_redirects": False,
    }
