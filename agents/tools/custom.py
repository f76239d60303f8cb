"""Custom tools run in a sandboxed Python process, never in the worker (the isolation: agents.tools.sandbox).

The process gets none of the server: an empty environment (no database URL, provider keys or secret key) plus the
agent's secrets, an empty working directory, hard limits on CPU time, address space, file size, open files and
processes, a uid of its own, and nothing it started survives the call.
"""

import contextlib
import json
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from agents.models import Tool
from agents.tools.sandbox import (
    RUNNER,
    SandboxUnavailable,
    build_command,
    claim_uid,
    kill_uid,
    prepare_home,
    sandbox_status,
)

_MARKER = "\n\x00ENGRAM_RESULT\x00"


class CustomToolError(Exception):
    def __init__(self, message: str, *, stdout: str = "", stderr: str = "") -> None:
        super().__init__(message)
        self.stdout, self.stderr = stdout, stderr


@dataclass(frozen=True)
class CustomToolOutput:
    result: str
    stdout: str  # what the tool printed
    stderr: str


def run_custom_tool_output(tool: Tool, args: dict[str, Any], *, env: dict[str, str] | None = None) -> CustomToolOutput:
    """Runs the tool's function with `args` in the sandbox; `env` (the agent's secrets, a tool run's variables) is
    added to the tool's otherwise empty environment."""
    payload = json.dumps({"source": tool.source_code, "name": tool.json_schema.get("name", tool.name), "args": args})
    stdout, stderr, returncode = _run_sandboxed(payload, env or {})
    if returncode != 0:
        if returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
            raise CustomToolError(f"the tool used more than {settings.ENGRAM_TOOL_TIMEOUT} s of CPU time")
        last = (stderr.strip().splitlines() or ["the tool failed"])[-1]
        if "[Errno 27]" in last:  # EFBIG: Python ignores SIGXFSZ, so the write over the limit fails instead
            limit = settings.ENGRAM_TOOL_OUTPUT_MB
            raise CustomToolError(f"the tool wrote more than {limit} MB to a file or its output")
        if "[Errno 28]" in last:  # ENOSPC: the sandbox's /tmp and working directory are tmpfs of a fixed size
            limit = settings.ENGRAM_TOOL_TMP_MB
            raise CustomToolError(f"the tool filled its {limit} MB of temporary space", stdout=stdout, stderr=stderr)
        if "[Errno 11]" in last or "can't start new thread" in last:  # EAGAIN from fork/clone: RLIMIT_NPROC
            limit = settings.ENGRAM_TOOL_MAX_PROCESSES
            raise CustomToolError(
                f"the tool tried to run more than {limit} processes or threads", stdout=stdout, stderr=stderr
            )
        raise CustomToolError(last, stdout=stdout, stderr=stderr)
    printed, _, result = stdout.rpartition(_MARKER)
    value = json.loads(result) if result else None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return CustomToolOutput(result=text, stdout=printed, stderr=stderr)


def run_custom_tool(tool: Tool, args: dict[str, Any], *, env: dict[str, str] | None = None) -> str:
    return run_custom_tool_output(tool, args, env=env).result


def _run_sandboxed(payload: str, extra_env: dict[str, str]) -> tuple[str, str, int]:
    status = sandbox_status()
    if status.mode == "disabled":
        raise CustomToolError(f"custom tools are {status.summary}")
    try:
        with tempfile.TemporaryDirectory(prefix="engram-tool-") as scratch, claim_uid() as uid:
            home = prepare_home(scratch, uid)
            command = build_command(
                status.mode,
                status.python,
                RUNNER,
                extra_env,
                uid=uid,
                home=home,
                network=settings.ENGRAM_TOOL_NETWORK,
            )
            try:
                return _launch(command.argv, command.env, command.user, home, scratch, payload)
            finally:
                kill_uid(uid)  # whatever the tool left running, in its group or not
    except SandboxUnavailable as exc:
        raise CustomToolError(f"custom tools cannot run: {exc}") from None


def _launch(
    argv: list[str], env: dict[str, str], user: int | None, home: str, scratch: str, payload: str
) -> tuple[str, str, int]:
    # Output goes to files, so that the file-size limit bounds it too (a pipe would let a tool fill memory).
    out_path, err_path = Path(scratch, ".stdout"), Path(scratch, ".stderr")
    with out_path.open("w+b") as out, err_path.open("w+b") as err:
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments; the code is the user's tool)
            argv,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            env=env,
            cwd=home,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user is not None else None,
        )
        try:
            proc.communicate(payload.encode(), timeout=settings.ENGRAM_TOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise CustomToolError(f"the tool timed out after {settings.ENGRAM_TOOL_TIMEOUT} s") from None
        out.seek(0)
        err.seek(0)
        return out.read().decode(errors="replace"), err.read().decode(errors="replace"), proc.returncode


def _kill(proc: "subprocess.Popen[bytes]") -> None:
    """The tool's process group (bubblewrap's namespace dies with it; the rest of a call's uid is killed after)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
