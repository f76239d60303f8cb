"""Custom tools run in a sandboxed Python process, never in the worker.

A tool's source is anybody's code in the organization, so the process gets none of the server: an empty
environment (no database URL, provider keys or secret key), an empty temporary directory as its working
directory, and hard limits on CPU time, address space, file size and open files. `ENGRAM_TOOL_SANDBOX` chooses how
much further it goes:

- `bwrap`: the process runs under bubblewrap (Debian's `bubblewrap` package): a fresh root holding only the
  system's and Python's files, read-only (no project directory, no data directory, no `/etc` beyond what name
  look-ups and TLS need), its own empty `/tmp` and working directory, new namespaces (no network unless
  `ENGRAM_TOOL_NETWORK`, no other processes in sight), as `nobody` with no capabilities. When bubblewrap cannot
  run, the tool call fails with a message that names it: this mode never runs a tool without it.
- `process`: the environment, directory and limits only. The tool can still read files the server's user can and
  reach the network; for single-user machines.
- `auto` (default): `bwrap` when bubblewrap runs on this machine, `process` otherwise (logged once, as a warning).
"""

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

from agents.models import Tool

logger = logging.getLogger(__name__)

# The limits go in first, from inside the process, before any of the tool's code runs; soft = hard, so the tool
# cannot raise them again (under bwrap it has no capabilities to).
_RUNNER = r"""
import json, resource, sys
for name, value in json.loads(sys.argv[1]).items():
    resource.setrlimit(getattr(resource, name), (value, value))
payload = json.loads(sys.stdin.read())
namespace = {"__name__": "engram_tool"}
exec(compile(payload["source"], "<tool>", "exec"), namespace)
result = namespace[payload["name"]](**payload["args"])
sys.stdout.write("\n\x00ENGRAM_RESULT\x00" + json.dumps(result, default=str))
"""
_MARKER = "\n\x00ENGRAM_RESULT\x00"
_PATH = "/usr/local/bin:/usr/bin:/bin"
_SANDBOX_TMP = "/tmp"  # noqa: S108 (inside the sandbox: a fresh tmpfs of its own)
_SANDBOX_HOME = "/sandbox"  # the tool's working and home directory inside the sandbox, also a fresh tmpfs
# What a Python process needs of the system, bound read-only when present (merged-/usr systems have symlinks).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
_SYSTEM_FILES = (
    "/etc/ld.so.cache",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
)


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
        raise CustomToolError(last, stdout=stdout, stderr=stderr)
    printed, _, result = stdout.rpartition(_MARKER)
    value = json.loads(result) if result else None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return CustomToolOutput(result=text, stdout=printed, stderr=stderr)


def run_custom_tool(tool: Tool, args: dict[str, Any], *, env: dict[str, str] | None = None) -> str:
    return run_custom_tool_output(tool, args, env=env).result


def sandbox_mode() -> str:
    """`bwrap` or `process`: what `ENGRAM_TOOL_SANDBOX` means on this machine."""
    if settings.ENGRAM_TOOL_SANDBOX != "auto":
        return str(settings.ENGRAM_TOOL_SANDBOX)
    if _bwrap_runs(settings.ENGRAM_BWRAP):
        return "bwrap"
    _warn_without_bwrap(settings.ENGRAM_BWRAP)
    return "process"


@cache
def _warn_without_bwrap(bwrap: str) -> None:
    logger.warning(
        "Custom tools run without bubblewrap (%s did not start a sandbox): they cannot see the server's environment, "
        "but can read its user's files and reach the network. Install Debian's bubblewrap package.",
        bwrap,
    )


@cache
def _bwrap_runs(bwrap: str) -> bool:
    try:
        probe = subprocess.run(  # noqa: S603 (the configured bubblewrap, fixed arguments)
            [*_bwrap_prefix(bwrap, network=False), sys.executable, "-I", "-c", "pass"],
            capture_output=True,
            timeout=10,
            check=False,
            env={"PATH": _PATH},
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _limits() -> dict[str, int]:
    megabyte = 1024 * 1024
    return {
        "RLIMIT_CPU": settings.ENGRAM_TOOL_TIMEOUT,
        "RLIMIT_AS": settings.ENGRAM_TOOL_MEMORY_MB * megabyte,
        "RLIMIT_FSIZE": settings.ENGRAM_TOOL_OUTPUT_MB * megabyte,
        "RLIMIT_NOFILE": 256,
        "RLIMIT_CORE": 0,
    }


def _environment(home: str, tmp: str) -> dict[str, str]:
    return {
        "PATH": _PATH,
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        # One thread each: numerical libraries reserve memory per thread, and the address-space limit counts it.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }


def _bwrap_prefix(bwrap: str, *, network: bool) -> list[str]:
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-all", "--unshare-user"]
    if network:
        argv.append("--share-net")
    argv += ["--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--clearenv"]
    for path in _SYSTEM_DIRS + _SYSTEM_FILES:
        argv += ["--ro-bind-try", path, path]
    # The server's own directories are hidden even when they lie inside a system directory (say /usr/local).
    hidden = {str(Path(settings.BASE_DIR).resolve()), str(Path(settings.DATA_DIR).resolve())}
    for path in sorted(hidden):
        if any(path == d or path.startswith(d + "/") for d in _SYSTEM_DIRS):
            argv += ["--tmpfs", path]
    # Private directories first: the interpreter may be installed below /tmp, and a later mount would hide it.
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", _SANDBOX_TMP, "--tmpfs", _SANDBOX_HOME]
    # The interpreter: its installation and the virtual environment (which may sit inside the hidden project).
    for path in sorted({str(Path(sys.base_prefix).resolve()), str(Path(sys.prefix).resolve())}):
        argv += ["--ro-bind", path, path]
    argv += ["--chdir", _SANDBOX_HOME]
    return argv


def _run_sandboxed(payload: str, extra_env: dict[str, str]) -> tuple[str, str, int]:
    mode = sandbox_mode()
    python = [sys.executable, "-I", "-c", _RUNNER, json.dumps(_limits())]
    with tempfile.TemporaryDirectory(prefix="engram-tool-") as scratch:
        home = Path(scratch, "home")
        home.mkdir()
        if mode == "bwrap":
            if not _bwrap_runs(settings.ENGRAM_BWRAP):
                raise CustomToolError(
                    f"custom tools need the bubblewrap sandbox, and {settings.ENGRAM_BWRAP} does not run here: install "
                    "Debian's bubblewrap package, or set ENGRAM_TOOL_SANDBOX=process on a single-user machine"
                )
            argv = _bwrap_prefix(settings.ENGRAM_BWRAP, network=settings.ENGRAM_TOOL_NETWORK)
            for name, value in {**_environment(_SANDBOX_HOME, _SANDBOX_TMP), **extra_env}.items():
                argv += ["--setenv", name, value]
            argv += python
            env = {"PATH": _PATH}
        elif mode == "process":
            argv, env = python, {**_environment(str(home), str(home)), **extra_env}
        else:
            raise CustomToolError(f"unknown ENGRAM_TOOL_SANDBOX {mode!r}")
        # Output goes to files, so that the file-size limit bounds it too (a pipe would let a tool fill memory).
        out_path, err_path = Path(scratch, ".stdout"), Path(scratch, ".stderr")
        with out_path.open("w+b") as out, err_path.open("w+b") as err:
            proc = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments; the code is the user's tool)
                argv, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env, cwd=home, start_new_session=True
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
    """The tool and anything it started (bubblewrap's namespace dies with it; a plain process has its group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
