"""The synchronous client (httpx.Client underneath)."""

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Unpack

import httpx

from . import _core
from ._core import Attempt, RetryPolicy, SendFields, UpdateFields
from .models import BulkItemResult, Queued, Retraction, SendResult


class Client:
    """`Client(base_url, token)`: one connection pool; use it as a context manager or call close().

    Every send gets an Idempotency-Key (yours, or a new one) that all its retries reuse, so a send is created
    once however often the network fails. `sleep` is how the client waits between attempts (tests pass their own).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = _core.DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(**_core.http_options(base_url, token, timeout), transport=transport)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, attempt: Attempt) -> httpx.Response:
        while True:
            try:
                response = self._http.request(attempt.method, attempt.path, json=attempt.json, headers=attempt.headers)
            except httpx.TransportError as exc:
                self._sleep(attempt.after(None, exc))
                continue
            if response.status_code < 400:
                return response
            self._sleep(attempt.after(response))

    def send(
        self,
        *,
        recipients: Sequence[int] | None = None,
        recipient_usernames: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        **fields: Unpack[SendFields],
    ) -> SendResult:
        """One notification to these users (ids or usernames). Raises ValidationFailed (nothing sent) etc."""
        request = _core.send_request(
            self.retry,
            recipients=recipients,
            recipient_usernames=recipient_usernames,
            audience=None,
            idempotency_key=idempotency_key,
            fields=fields,
        )
        return _core.send_result(self._run(request))

    def broadcast(self, *, audience: str, idempotency_key: str | None = None, **fields: Unpack[SendFields]) -> Queued:
        """To "all" active users or "group:<name>" (needs notifications.broadcast_notification); fanned out later."""
        request = _core.send_request(
            self.retry,
            recipients=None,
            recipient_usernames=None,
            audience=audience,
            idempotency_key=idempotency_key,
            fields=fields,
        )
        return _core.queued_result(self._run(request))

    def send_bulk(
        self, notifications: Sequence[Mapping[str, Any]], *, chunk_size: int = _core.BULK_MAX
    ) -> list[BulkItemResult]:
        """Many sends (each a send body with its recipients), in calls of at most 1000 items. Each call is all or
        nothing; a refused call does not stop the others. One result per item, in order."""
        results: list[BulkItemResult] = []
        for start, chunk in _core.bulk_chunks(notifications, chunk_size):
            try:
                response = self._run(_core.bulk_request(self.retry, chunk))
            except _core.errors.NotifyError as exc:
                results += _core.bulk_results(start, chunk, None, exc)
            else:
                results += _core.bulk_results(start, chunk, response, None)
        return results

    def update(self, send_id: str, **fields: Unpack[UpdateFields]) -> dict[str, Any]:
        """Change one of your sends (title, body, url, image_url, actions, data): every recipient sees it at once.
        Returns the send as it is now. Raises NotFound (not yours, or none), Retracted, ValidationFailed."""
        return dict(self._run(_core.update_request(self.retry, send_id, fields)).json())

    def retract(self, send_id: str) -> dict[str, Any]:
        """Take one of your sends back: out of every inbox and badge at once. Returns the send (retracted_at set)."""
        return dict(self._run(_core.retract_request(self.retry, send_id)).json())

    def retract_group(self, group_key: str) -> Retraction:
        """Retract every send of yours with this group_key ("the comment was deleted")."""
        return _core.retraction_result(self._run(_core.retract_group_request(self.retry, group_key)))

    def ticket(self) -> str:
        """A single-use WebSocket ticket (valid 60 s): connect to /ws/notifications/?ticket=<it>."""
        return str(self._run(_core.ticket_request(self.retry)).json()["ticket"])
