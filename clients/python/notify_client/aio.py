"""The asyncio client (httpx.AsyncClient underneath): the same calls as Client, awaited, plus listen()."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Unpack

import httpx

from . import _core
from ._core import Attempt, RetryPolicy, SendFields, UpdateFields
from .listen import listen
from .models import BulkItemResult, Queued, Retraction, SendResult


class AsyncClient:
    """`AsyncClient(base_url, token)`; `async with` it or `await close()`. See Client for the retry rules."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = _core.DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.AsyncClient(**_core.http_options(base_url, token, timeout), transport=transport)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _run(self, attempt: Attempt) -> httpx.Response:
        while True:
            try:
                response = await self._http.request(
                    attempt.method, attempt.path, json=attempt.json, headers=attempt.headers
                )
            except httpx.TransportError as exc:
                await self._sleep(attempt.after(None, exc))
                continue
            if response.status_code < 400:
                return response
            await self._sleep(attempt.after(response))

    async def send(
        self,
        *,
        recipients: Sequence[int] | None = None,
        recipient_usernames: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        **fields: Unpack[SendFields],
    ) -> SendResult:
        request = _core.send_request(
            self.retry,
            recipients=recipients,
            recipient_usernames=recipient_usernames,
            audience=None,
            idempotency_key=idempotency_key,
            fields=fields,
        )
        return _core.send_result(await self._run(request))

    async def broadcast(
        self, *, audience: str, idempotency_key: str | None = None, **fields: Unpack[SendFields]
    ) -> Queued:
        request = _core.send_request(
            self.retry,
            recipients=None,
            recipient_usernames=None,
            audience=audience,
            idempotency_key=idempotency_key,
            fields=fields,
        )
        return _core.queued_result(await self._run(request))

    async def send_bulk(
        self, notifications: Sequence[Mapping[str, Any]], *, chunk_size: int = _core.BULK_MAX
    ) -> list[BulkItemResult]:
        results: list[BulkItemResult] = []
        for start, chunk in _core.bulk_chunks(notifications, chunk_size):
            try:
                response = await self._run(_core.bulk_request(self.retry, chunk))
            except _core.errors.NotifyError as exc:
                results += _core.bulk_results(start, chunk, None, exc)
            else:
                results += _core.bulk_results(start, chunk, response, None)
        return results

    async def update(self, send_id: str, **fields: Unpack[UpdateFields]) -> dict[str, Any]:
        return dict((await self._run(_core.update_request(self.retry, send_id, fields))).json())

    async def retract(self, send_id: str) -> dict[str, Any]:
        return dict((await self._run(_core.retract_request(self.retry, send_id))).json())

    async def retract_group(self, group_key: str) -> Retraction:
        return _core.retraction_result(await self._run(_core.retract_group_request(self.retry, group_key)))

    async def ticket(self) -> str:
        return str((await self._run(_core.ticket_request(self.retry))).json()["ticket"])

    def listen(self, *, last_seq: int = 0, **options: Any) -> AsyncIterator[dict[str, Any]]:
        """Every notification after `last_seq`, exactly once, across reconnects (see notify_client.listen)."""
        return listen(self, last_seq=last_seq, **options)
