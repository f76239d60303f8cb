"""Real MCP servers for the tests, written with FastMCP (the `mcp` package): one run over stdio by the server
under test (its source goes in `-c`, so it needs nothing of this checkout inside the sandbox), and one over
streamable HTTP and SSE in this process (uvicorn on a thread), behind a bearer token."""

import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

STDIO_SOURCE = r'''
import json, os
import anyio
from mcp.server.fastmcp import FastMCP

mcp = FastMCP("engram-test-stdio")
calls = 0


@mcp.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return "echo: " + text


@mcp.tool()
def count() -> int:
    """How many times this process was asked."""
    global calls
    calls += 1
    return calls


@mcp.tool()
def read_file(path: str) -> str:
    """Read a file."""
    try:
        with open(path) as f:
            return "read: " + f.read()
    except OSError as exc:
        return "cannot read: " + type(exc).__name__


@mcp.tool()
def environment() -> str:
    """The variables this process sees."""
    return json.dumps(sorted(os.environ))


@mcp.tool()
def fail(reason: str) -> str:
    """Raise an error."""
    raise ValueError(reason)


@mcp.tool()
async def hang() -> str:
    """Never answers."""
    await anyio.sleep(3600)
    return "woke"


@mcp.tool()
def crash() -> str:
    """The process dies."""
    os._exit(3)


mcp.run()
'''


def stdio_config(**env: str) -> dict[str, Any]:
    return {"mcp_server_type": "stdio", "command": sys.executable, "args": ["-c", STDIO_SOURCE], "env": env or None}


TOKEN = "test-bearer-token-0123456789"


class HttpMcp:
    """FastMCP over streamable HTTP (`/mcp`) and SSE (`/sse`), refusing requests without `Bearer TOKEN`."""

    def __init__(self) -> None:
        from mcp.server.fastmcp import FastMCP

        self.mcp = FastMCP("engram-test-http", host="127.0.0.1")
        self.seen_authorization: list[str] = []

        @self.mcp.tool()
        def weather(city: str) -> str:
            """The weather in a city."""
            return f"Sunny in {city}"

        self.port = _free_port()
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def sse_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sse"

    def app(self) -> Any:
        http_app = self.mcp.streamable_http_app()
        sse_app = self.mcp.sse_app()
        expected = f"Bearer {TOKEN}".encode()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                await http_app(scope, receive, send)
                return
            authorization = dict(scope.get("headers") or []).get(b"authorization", b"")
            self.seen_authorization.append(authorization.decode())
            if authorization != expected:
                await send(
                    {"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]}
                )
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
            target = sse_app if scope["path"].startswith(("/sse", "/messages")) else http_app
            await target(scope, receive, send)

        return app

    def start(self) -> "HttpMcp":
        import uvicorn

        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        threading.Thread(target=self._server.run, name="test-mcp-http", daemon=True).start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test MCP HTTP server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    def config(self, *, token: str = TOKEN, kind: str = "streamable_http") -> dict[str, Any]:
        return {
            "mcp_server_type": kind,
            "server_url": self.sse_url if kind == "sse" else self.url,
            "auth_header": "Authorization",
            "auth_token": token,
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def http_mcp() -> Iterator[HttpMcp]:
    server = HttpMcp().start()
    yield server
    server.stop()


@pytest.fixture
def close_sessions() -> Iterator[None]:
    """Each test starts and ends with no open MCP session in this process (stdio servers stopped)."""
    from agents.tools.mcp.client import close_all

    yield
    close_all()
