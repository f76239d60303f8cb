"""A stdio MCP server runs under the custom tools' isolation (agents.tools.sandbox): bubblewrap with a fresh root
holding only the system's and Python's files read-only (no project or data directory), private /tmp and working
directory, no network unless ENGRAM_MCP_STDIO_NETWORK, an empty environment plus the server's own variables, a uid
of its own held for as long as the connection lives, and nothing of it left running when the connection closes.
It differs from a custom tool in lasting: it has no CPU-time limit, and its address space is ENGRAM_MCP_MEMORY_MB
(runtimes such as Node reserve more than a tool's 1 GB)."""

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings

from agents.tools.mcp.spec import ServerSpec
from agents.tools.sandbox import RUNNER_PROLOGUE, build_command, claim_uid, kill_uid, prepare_home, sandbox_status

# Limits first, then (as root) the server's own uid, then the server's command in place of this process.
RUNNER = (
    RUNNER_PROLOGUE
    + r"""try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as exc:
    sys.exit(f"cannot start {sys.argv[2]!r}: {exc.strerror}")
"""
)


class StdioUnavailable(Exception):
    pass


def _limits() -> dict[str, int]:
    megabyte = 1024 * 1024
    return {
        "RLIMIT_AS": settings.ENGRAM_MCP_MEMORY_MB * megabyte,
        "RLIMIT_FSIZE": settings.ENGRAM_TOOL_OUTPUT_MB * megabyte,
        "RLIMIT_NOFILE": 1024,
        "RLIMIT_CORE": 0,
        "RLIMIT_NPROC": settings.ENGRAM_TOOL_MAX_PROCESSES,
    }


async def open_stdio(stack: contextlib.AsyncExitStack, spec: ServerSpec) -> tuple[Any, Any, Path]:
    """Starts the server in the sandbox; the streams to talk to it and the file its stderr goes to. Everything is
    undone by `stack`: the process stopped, every process of its uid killed, the uid and scratch space released."""
    from mcp import StdioServerParameters  # imported on use: see agents.tools.mcp.client
    from mcp.client.stdio import stdio_client

    status = sandbox_status()
    if status.mode == "disabled":
        raise StdioUnavailable(f"stdio MCP servers run in the custom-tool sandbox, which is {status.summary}")
    scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="engram-mcp-"))
    uid = stack.enter_context(claim_uid())
    stack.callback(kill_uid, uid)  # runs before the uid is released
    home = prepare_home(scratch, uid)
    command = build_command(
        status.mode,
        status.python,
        RUNNER,
        dict(spec.env),
        uid=uid,
        home=home,
        network=settings.ENGRAM_MCP_STDIO_NETWORK,
        rlimits=_limits(),
        runner_drops_uid=True,
    )
    argv = [*command.argv, spec.command, *spec.args]
    stderr_path = Path(scratch, ".stderr")
    errlog = stack.enter_context(stderr_path.open("w+"))  # noqa: ASYNC230 (a new local file: no wait)
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=command.env, cwd=home)
    read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
    return read, write, stderr_path


def stderr_tail(path: Path | None) -> str:
    if path is None:
        return ""
    with contextlib.suppress(OSError):
        lines = path.read_text(errors="replace").strip().splitlines()
        return lines[-1][:500] if lines else ""
    return ""
