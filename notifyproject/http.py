"""Django's ASGI handler with the request's sync work done in one thread hop, on a bounded set of threads.

Stock `ASGIHandler` runs the middleware chain in async mode: every sync `process_request`/`process_response` of
every middleware (security, sessions, common, CSRF, auth, messages, clickjacking...) is its own trip from the event
loop to a thread and back, about a dozen per request, and each request gets a thread created for it
(`ThreadSensitiveContext`). Measured on a 2-core machine: ~5 ms of CPU for a token-authenticated GET that costs
1.5 ms under WSGI. Here the chain is loaded in sync mode and run, view included, in a single hop; the thread comes
from a fixed set (`HTTP_THREADS`), each with its own thread-sensitive context kept for the life of the process, so
one request's sync code still always runs on one thread (what Django and the ORM require) and threads — and with
them database connections — stay bounded. Requests beyond the set wait on the event loop, not in a thread.
"""

import asyncio
from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class HttpHandler(ASGIHandler):
    def __init__(self, threads: int) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.threads = threads
        self._contexts: dict[asyncio.AbstractEventLoop, asyncio.Queue[ThreadSensitiveContext]] = {}

    def _free(self) -> "asyncio.Queue[ThreadSensitiveContext]":
        loop = asyncio.get_running_loop()
        queue = self._contexts.get(loop)
        if queue is None:
            queue = self._contexts[loop] = asyncio.Queue()
            for _ in range(self.threads):
                queue.put_nowait(ThreadSensitiveContext())
        return queue

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        free = self._free()
        context = await free.get()
        # Entering the context variable directly (not `async with`): leaving it must not shut its thread down.
        token = SyncToAsync.thread_sensitive_context.set(context)
        try:
            await self.handle(scope, receive, send)
        finally:
            SyncToAsync.thread_sensitive_context.reset(token)
            free.put_nowait(context)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        """The whole sync chain (middleware and view) in one hop to this request's thread."""
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
