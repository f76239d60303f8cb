"""Sessions with MCP servers, reused across calls: one event loop on a daemon thread per process holds at most one
open session per server, opened on first use and closed after ENGRAM_MCP_IDLE_SECONDS without a call, when the
server's settings change (the spec's key), or when a call times out or the connection fails (the next call opens a
new one). Callers are synchronous (the agent loop, API views) and never wait past their timeout: a server that
hangs, crashes or disappears is an MCPError naming what happened.

The loop runs on a lib.background worker, so a forked child (Celery's prefork pool) starts its own loop and
sessions on first use, with none of the parent's."""

import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from django.conf import settings

from agents.models import MCPServer
from agents.tools.mcp.spec import ServerSpec
from agents.tools.mcp.stdio import open_stdio, stderr_tail
from lib.background import Worker
from lib.netguard import AddressRefused, check_host

if TYPE_CHECKING:  # the mcp package takes a good second to import: only code that talks to a server loads it
    from mcp import ClientSession

logger = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[["ClientSession"], Awaitable[T]]


class MCPError(Exception):
    """The server could not be reached, failed, or did not answer in time; the message says which."""


class MCPToolError(MCPError):
    """The tool ran and reported an error (isError), or the server refused the call."""


@dataclass(frozen=True)
class RemoteTool:
    name: str
    description: str
    input_schema: dict[str, Any]


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, httpx.HTTPStatusError):
        return f"the server answered HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})" if str(exc) else "cannot connect"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _address_refused(exc: BaseException) -> AddressRefused | None:
    while exc is not None:
        if isinstance(exc, AddressRefused):
            return exc
        if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
            continue
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


def _retrieve(future: "asyncio.Future[Any]") -> None:
    if not future.cancelled():
        future.exception()


def _http_client(
    headers: dict[str, str] | None = None, timeout: httpx.Timeout | None = None, auth: httpx.Auth | None = None
) -> httpx.AsyncClient:
    """An HTTP client whose requests go only to hosts the address rules allow (lib.netguard), each host checked
    once per connection (the transports follow only same-origin redirects)."""
    checked: set[str] = set()

    async def guard(request: httpx.Request) -> None:
        host = request.url.host
        if host not in checked:
            allow = settings.ENGRAM_MCP_ALLOW_PRIVATE
            await asyncio.to_thread(check_host, host, allow_private=allow, setting="ENGRAM_MCP_ALLOW_PRIVATE")
            checked.add(host)

    connect = float(settings.ENGRAM_MCP_CONNECT_TIMEOUT)
    return httpx.AsyncClient(
        headers=headers,
        timeout=timeout or httpx.Timeout(connect, read=max(300.0, float(settings.ENGRAM_MCP_TIMEOUT))),
        auth=auth,
        follow_redirects=False,
        event_hooks={"request": [guard]},
    )


async def _open_remote(stack: contextlib.AsyncExitStack, spec: ServerSpec) -> tuple[Any, Any]:
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    if spec.kind == MCPServer.Kind.SSE:
        read, write = await stack.enter_async_context(
            sse_client(spec.url, headers=dict(spec.headers), httpx_client_factory=_http_client)
        )
    else:
        client = await stack.enter_async_context(_http_client(headers=dict(spec.headers)))
        read, write, _ = await stack.enter_async_context(streamable_http_client(spec.url, http_client=client))
    return read, write


class _Connection:
    def __init__(self, pool: "_Pool", spec: ServerSpec) -> None:
        self.pool, self.spec = pool, spec
        self.queue: asyncio.Queue[tuple[Operation[Any], asyncio.Future[Any]] | None] = asyncio.Queue()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready.add_done_callback(_retrieve)
        self.inflight: set[asyncio.Task[None]] = set()
        self.closed = False
        self.stderr: Path | None = None
        self.task = asyncio.create_task(self._serve(), name=f"mcp-{spec.server_id}")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.task.cancel()

    async def submit(self, operation: Operation[T], wait: float) -> T:
        connect = settings.ENGRAM_MCP_CONNECT_TIMEOUT
        try:
            await asyncio.wait_for(asyncio.shield(self.ready), connect)
        except TimeoutError:
            self.close()
            raise MCPError(f"the MCP server did not complete the connection within {connect} s") from None
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)  # a caller that timed out no longer waits for it
        if self.closed:
            raise MCPError("the connection to the MCP server closed")
        self.queue.put_nowait((operation, future))
        try:
            return await asyncio.wait_for(asyncio.shield(future), wait)
        except TimeoutError:
            self.close()  # a server that hangs on one call is not trusted with the next
            raise MCPError(f"the MCP server did not answer within {wait:g} s") from None

    async def _serve(self) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                session = await self._connect(stack)
                self.ready.set_result(None)
                await self._dispatch(session)
        except BaseException as exc:  # the task's end: whatever ended it is reported, not raised
            if not self.ready.done():
                refused = _address_refused(exc)
                reason = str(refused) if refused else _describe(exc)
                tail = stderr_tail(self.stderr)
                detail = f"cannot connect to the MCP server: {reason}" + (f" (stderr: {tail})" if tail else "")
                self.ready.set_exception(MCPError(detail))
            elif not isinstance(exc, asyncio.CancelledError):
                logger.info("MCP connection %s ended: %s", self.spec.server_id, _describe(exc))
        finally:
            self.closed = True
            if not self.ready.done():
                self.ready.set_exception(MCPError("the connection to the MCP server closed"))
            for task in list(self.inflight):
                task.cancel()
            while not self.queue.empty():
                item = self.queue.get_nowait()
                if item is not None and not item[1].done():
                    item[1].set_exception(MCPError("the connection to the MCP server closed"))
            self.pool.forget(self)

    async def _connect(self, stack: contextlib.AsyncExitStack) -> "ClientSession":
        from mcp import ClientSession

        if self.spec.kind == MCPServer.Kind.STDIO:
            read, write, self.stderr = await open_stdio(stack, self.spec)
        else:
            read, write = await _open_remote(stack, self.spec)
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        return session

    async def _dispatch(self, session: "ClientSession") -> None:
        idle = settings.ENGRAM_MCP_IDLE_SECONDS
        while True:
            try:
                item = await asyncio.wait_for(self.queue.get(), idle)
            except TimeoutError:
                if self.inflight:
                    continue
                return
            if item is None:
                return
            task = asyncio.create_task(self._run(session, *item))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)

    async def _run(self, session: "ClientSession", operation: Operation[Any], future: asyncio.Future[Any]) -> None:
        from mcp import McpError
        from mcp.types import CONNECTION_CLOSED

        try:
            result = await operation(session)
        except asyncio.CancelledError:
            if not future.done():
                future.set_exception(MCPError("the connection to the MCP server closed"))
            raise
        except MCPError as exc:
            if not future.done():
                future.set_exception(exc)
        except McpError as exc:
            if exc.error.code == CONNECTION_CLOSED:
                if not future.done():
                    tail = stderr_tail(self.stderr)
                    suffix = f" (stderr: {tail})" if tail else ""
                    future.set_exception(MCPError(f"the MCP server closed the connection{suffix}"))
                self.close()
            elif not future.done():  # the server answered the request with an error: the session is fine
                future.set_exception(MCPToolError(exc.error.message))
        except Exception as exc:
            if not future.done():
                tail = stderr_tail(self.stderr)
                suffix = f" (stderr: {tail})" if tail else ""
                future.set_exception(MCPError(f"the MCP server failed: {_describe(exc)}{suffix}"))
            self.close()
        else:
            if not future.done():
                future.set_result(result)


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._worker = Worker("engram-mcp")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: dict[uuid.UUID, _Connection] = {}

    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop, running on its lib.background worker; a forked child (whose copy of the thread does
        not run) starts a loop of its own, with none of the parent's connections."""
        if self._pid != os.getpid():
            self._lock, self._pid = threading.Lock(), os.getpid()
            self._loop, self._connections = None, {}
        with self._lock:
            if self._loop is None or not self._worker.running:
                loop = asyncio.new_event_loop()
                self._worker.submit(loop.run_forever)
                self._loop, self._connections = loop, {}
            return self._loop

    def running_loop(self) -> asyncio.AbstractEventLoop | None:
        """This process's loop if it was started (nothing to close otherwise)."""
        if self._pid != os.getpid() or not self._worker.running:
            return None
        return self._loop

    def forget(self, connection: _Connection) -> None:
        if self._connections.get(connection.spec.server_id) is connection:
            del self._connections[connection.spec.server_id]

    async def request(self, spec: ServerSpec, operation: Operation[T], wait: float) -> T:
        connection = self._connections.get(spec.server_id)
        if connection is not None and (connection.closed or connection.spec.key != spec.key):
            connection.close()
            connection = None
        if connection is None:
            connection = _Connection(self, spec)
            self._connections[spec.server_id] = connection
        return await connection.submit(operation, wait)

    async def close(self, server_id: uuid.UUID | None) -> None:
        for key, connection in list(self._connections.items()):
            if server_id is None or key == server_id:
                connection.close()
                with contextlib.suppress(BaseException):
                    await connection.task

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise MCPError(f"the MCP server did not answer within {timeout:g} s") from None


_pool = _Pool()


def _budget(timeout: float) -> float:
    # The connection's own deadlines come first; this one only guards the caller against a stuck event loop.
    return settings.ENGRAM_MCP_CONNECT_TIMEOUT + timeout + 5


def list_tools(spec: ServerSpec, *, timeout: float | None = None) -> list[RemoteTool]:
    """Every tool the server offers, with its input schema (all pages)."""
    wait = float(timeout or settings.ENGRAM_MCP_TIMEOUT)

    async def operation(session: "ClientSession") -> list[RemoteTool]:
        tools: list[RemoteTool] = []
        cursor: str | None = None
        for _ in range(100):
            page = await session.list_tools(cursor)
            tools += [RemoteTool(t.name, t.description or "", dict(t.inputSchema or {})) for t in page.tools]
            cursor = page.nextCursor
            if not cursor:
                break
        return tools

    return _pool.run(_pool.request(spec, operation, wait), _budget(wait))


def call_tool(spec: ServerSpec, name: str, args: dict[str, Any], *, timeout: float | None = None) -> str:
    """The tool's result as text (its text parts joined; structured content as JSON when there are none). A result
    the server marks as an error is MCPToolError with that text."""
    wait = float(timeout or settings.ENGRAM_MCP_TIMEOUT)

    async def operation(session: "ClientSession") -> str:
        result = await session.call_tool(name, args, read_timeout_seconds=timedelta(seconds=wait + 1))
        parts: list[str] = []
        for item in result.content:
            if item.type == "text":
                parts.append(item.text)
            elif item.type == "resource" and hasattr(item.resource, "text"):
                parts.append(item.resource.text)
            else:
                parts.append(f"[{item.type} content]")
        text = "\n".join(parts)
        if not parts and result.structuredContent is not None:
            text = json.dumps(result.structuredContent, ensure_ascii=False)
        if result.isError:
            raise MCPToolError(text or "the tool failed")
        return text

    return _pool.run(_pool.request(spec, operation, wait), _budget(wait))


def close_server(server_id: uuid.UUID) -> None:
    """Start closing this process's session with the server (after an update or a delete) without waiting for it;
    other processes' sessions close when idle (or, after an update, on their next call: the spec changed)."""
    loop = _pool.running_loop()
    if loop is not None:
        asyncio.run_coroutine_threadsafe(_pool.close(server_id), loop).add_done_callback(
            lambda f: f.cancelled() or f.exception()
        )


def close_all(timeout: float = 10) -> None:
    """Close every session of this process (at exit; tests between cases)."""
    if _pool.running_loop() is not None:
        with contextlib.suppress(Exception):
            _pool.run(_pool.close(None), timeout)


atexit.register(close_all, 5)
