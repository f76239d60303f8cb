"""The ASGI handler: Django's, with each request's synchronous work in one crossing, on a reused thread.

Two costs of Django's own ASGI handler under daphne, measured on 2 cores:
- It runs the middleware chain async, and each `MiddlewareMixin` middleware (most of Django's own) then sends its
  `process_request`, `process_view` and `process_response` to a worker thread one at a time: about fifteen
  crossings between the event loop and a thread per request. Every view here is synchronous (a stream returns a
  response whose body is an async iterator, consumed on the event loop), so the chain runs synchronously, in one
  crossing.
- It starts a thread for every request (a `ThreadSensitiveContext` of its own) and, that thread being new, a new
  database connection: on SQLite a connection with a cold page cache per request. Requests here borrow a
  single-thread executor from a pool instead, so a thread and its connection (kept for `CONN_MAX_AGE`, or handed
  back to the PostgreSQL pool by `request_finished` as before) serve one request after another. A request's
  thread-sensitive work still runs on one thread of its own, as with Django's handler.

It also bounds the body: Django's handler spools any body, however large, to disk before a view can refuse it,
and a chunked body (no Content-Length) reached DRF as empty, since DRF reads only as many bytes as that header
declares. Here a body past ENGRAM_MAX_BODY_BYTES is a 413 once read (the rest is discarded as it arrives), and a
body without a declared length gets its length from what was read.
"""

import tempfile
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase, JsonResponse

T = TypeVar("T")

IDLE_THREADS = 32  # request threads kept between requests; a burst beyond that starts (and ends) more


class _RequestThread(ThreadPoolExecutor):
    """One thread, and how many of the calls sent to it have not finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="engram-request")
        self.pending = 0
        self._count = threading.Lock()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._count:
            self.pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)  # runs before the event loop hears of the result
        return future

    def _finished(self, _: Future[Any]) -> None:
        with self._count:
            self.pending -= 1


class _Body(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
    """A request body as Django's handler keeps it, and how many bytes arrived (more than it holds when the
    body was past the limit)."""

    received = 0


class EngramASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._idle: deque[_RequestThread] = deque()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            executor = self._idle.pop()  # the most recently used: its connection and caches are warm
        except IndexError:
            executor = _RequestThread()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            if executor.pending == 0:
                self._release(executor)
            else:  # a request cancelled by a client that went away may still run sync code there
                executor.submit(_idle).add_done_callback(lambda _: self._release(executor))

    def _release(self, executor: _RequestThread) -> None:
        # Runs on the event loop or on the executor's own thread; deque appends and len() are atomic.
        if len(self._idle) < IDLE_THREADS:
            self._idle.append(executor)
        else:
            executor.shutdown(wait=False)

    async def read_body(self, receive: Any) -> _Body:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = _Body(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body.close()
                raise RequestAborted()
            chunk = message.get("body", b"")
            body.received += len(chunk)
            if limit is None or body.received <= limit:
                body.write(chunk)
            if not message.get("more_body", False):
                break
        body.seek(0)
        return body

    def create_request(self, scope: Mapping[str, Any], body_file: Any) -> tuple[Any, Any]:
        received = getattr(body_file, "received", 0)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and received > limit:
            detail = f"Request body exceeds the limit of {limit} bytes."
            return None, JsonResponse({"detail": detail}, status=413)
        if received and not any(name.lower() == b"content-length" for name, _ in scope.get("headers", [])):
            scope = {**scope, "headers": [*scope["headers"], (b"content-length", str(received).encode())]}
        return super().create_request(scope, body_file)

    async def get_response_async(self, request: HttpRequest) -> Any:
        response: HttpResponseBase = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        return response


def _idle() -> None:
    """Queued behind a request's last sync call: done once the thread has nothing left to do."""
