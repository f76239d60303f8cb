"""Where and as whom a custom tool's process runs: the isolation in force on this machine, the command that starts
a tool under it, and the clean-up after it.

A tool's source is anybody's code in the organization, so custom code never runs without real isolation unless the
operator chose that (`ENGRAM_TOOL_SANDBOX`):

- `auto` (default) and `bwrap`: bubblewrap (Debian's `bubblewrap` package). A fresh root holding only the system's
  and Python's files, read-only (no project or data directory), a private size-capped `/tmp` and working directory,
  new pid, network (none unless `ENGRAM_TOOL_NETWORK`), IPC and UTS namespaces, and no capabilities. When
  bubblewrap does not run here, custom tools are disabled and every call says why.
- `process`: a plain process, for a trusted single-user machine: it can reach the network and read what other
  users may read. Needs the server to run as root (see below); disabled otherwise.
- `disabled`: custom tools never run.

A tool never runs as root or as the server's user. When the server runs as root, each call claims its own uid from
`ENGRAM_TOOL_UID_BASE` (65,536 of them; a lock file per uid, so concurrent calls in any process never share one)
and the tool runs as that uid with no groups: it cannot read the server's environment (`/proc/<pid>/environ`) or its
data directory (0700), and `RLIMIT_NPROC` counts only this call's processes (the kernel never applies it to root).
Under bubblewrap, bubblewrap itself starts as root (to bind the interpreter wherever it is installed) and the
runner drops to the call's uid before any of the tool's code runs. A server that does not run as root can only
start bubblewrap as itself: the tool then runs in a user namespace of its own (as `nobody` there), where
`RLIMIT_NPROC` counts the namespace's processes only (Linux 5.14+); a plain process would be the server's user, so
`process` mode refuses to run.

Nothing a tool starts outlives the call: under bubblewrap the tool is in a pid namespace that dies with bubblewrap
(`--die-with-parent`); a plain process's group is killed on a timeout, and after every call every process of the
call's uid is killed (`kill(-1)` as that uid, which also catches a daemon that left the group).
"""

import contextlib
import fcntl
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from django.conf import settings

logger = logging.getLogger(__name__)

Mode = Literal["bwrap", "process", "disabled"]

# The limits go in first, from inside the process, before any of the tool's code runs; soft = hard, so the tool
# cannot raise them again. Under bubblewrap as root the runner then drops to the call's uid (it holds only
# CAP_SETUID and CAP_SETGID until then, and none after). Every runner (this one, MCP stdio's) starts with it.
RUNNER_PROLOGUE = r"""
import json, os, resource, sys
config = json.loads(sys.argv[1])
for name, value in config["limits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
if config["uid"] is not None:
    os.setgroups([])
    os.setresgid(config["uid"], config["uid"], config["uid"])
    os.setresuid(config["uid"], config["uid"], config["uid"])
"""
RUNNER = (
    RUNNER_PROLOGUE
    + r"""payload = json.loads(sys.stdin.read())
namespace = {"__name__": "engram_tool"}
exec(compile(payload["source"], "<tool>", "exec"), namespace)
result = namespace[payload["name"]](**payload["args"])
sys.stdout.write("\n\x00ENGRAM_RESULT\x00" + json.dumps(result, default=str))
"""
)
PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_TMP = "/tmp"  # noqa: S108 (inside the sandbox: a fresh tmpfs of its own)
SANDBOX_HOME = "/sandbox"  # the tool's working and home directory inside the sandbox, also a fresh tmpfs
UID_COUNT = 65_536
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
_FIX = (
    "install Debian's bubblewrap package (apt-get install bubblewrap), or set ENGRAM_TOOL_SANDBOX=process on a "
    "trusted single-user machine"
)


class SandboxUnavailable(Exception):
    pass


@dataclass(frozen=True)
class SandboxStatus:
    mode: Mode
    python: str = ""  # the interpreter tools run with
    reason: str = ""  # disabled: why, and what to do

    @property
    def summary(self) -> str:
        if self.mode == "bwrap":
            return "sandboxed (bubblewrap)"
        if self.mode == "process":
            return "plain process as an unprivileged user, no sandbox (trusted single-user only)"
        return f"disabled: {self.reason}"


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str]
    user: int | None  # the uid (and gid) subprocess switches to before exec; None: stay


def is_root() -> bool:
    return os.geteuid() == 0


def sandbox_status() -> SandboxStatus:
    """What `ENGRAM_TOOL_SANDBOX` means on this machine, probed once per configuration: the first candidate
    interpreter that starts in the chosen isolation wins."""
    return _status(
        settings.ENGRAM_TOOL_SANDBOX, settings.ENGRAM_BWRAP, settings.ENGRAM_TOOL_PYTHON, settings.ENGRAM_TOOL_UID_BASE
    )


def sandbox_log_status() -> None:
    """Logs the isolation in force, once per process (server and worker start-up)."""
    _log_status(sandbox_status())


@cache
def _log_status(status: SandboxStatus) -> None:
    if status.mode == "disabled":
        logger.warning("Custom tools are %s", status.summary)
    elif status.mode == "process":
        logger.warning("Custom tools run as a %s: they can reach the network", status.summary)
    else:
        logger.info("Custom tools run %s, with %s", status.summary, status.python)


@cache
def _status(sandbox: str, bwrap: str, tool_python: str, uid_base: int) -> SandboxStatus:
    if sandbox == "disabled":
        return SandboxStatus("disabled", reason="ENGRAM_TOOL_SANDBOX=disabled")
    if sandbox == "process" and not is_root():
        return SandboxStatus(
            "disabled",
            reason="ENGRAM_TOOL_SANDBOX=process runs each tool as an unprivileged user of its own, which needs the "
            "server to run as root; install Debian's bubblewrap package instead",
        )
    mode: Mode = "process" if sandbox == "process" else "bwrap"
    if mode == "bwrap" and not shutil.which(bwrap):
        return SandboxStatus("disabled", reason=f"bubblewrap ({bwrap}) is not installed: {_FIX}")
    failures = []
    for python in _candidates(tool_python):
        try:
            _probe(mode, python)
        except SandboxUnavailable as exc:
            failures.append(f"{python}: {exc}")
            continue
        return SandboxStatus(mode, python=python)
    if mode == "bwrap":
        return SandboxStatus("disabled", reason=f"bubblewrap ({bwrap}) does not run here ({failures[0]}): {_FIX}")
    return SandboxStatus(
        "disabled",
        reason="no Python that an unprivileged user can run was found ("
        + "; ".join(failures)
        + "): set ENGRAM_TOOL_PYTHON, or install bubblewrap",
    )


def _candidates(tool_python: str) -> list[str]:
    """The server's interpreter (with its packages), then the one it links to, then the system's: an unprivileged
    uid may not reach the first two (say, a virtualenv under /root)."""
    if tool_python:
        return [tool_python]
    found = [sys.executable, os.path.realpath(sys.executable), shutil.which("python3", path=PATH) or ""]
    return [p for i, p in enumerate(found) if p and p not in found[:i]]


def _probe(mode: Mode, python: str) -> None:
    """Runs a tool that imports the standard library, exactly as a call would."""
    payload = {"source": "def probe() -> str:\n    import json\n    return 'ok'\n", "name": "probe", "args": {}}
    with tempfile.TemporaryDirectory(prefix="engram-tool-") as scratch, claim_uid() as uid:
        home = prepare_home(scratch, uid)
        command = build_command(mode, python, RUNNER, {}, uid=uid, home=home, network=False)
        try:
            probe = subprocess.run(  # noqa: S603 (our own sandbox command, fixed arguments)
                command.argv,
                input=json.dumps(payload).encode(),
                capture_output=True,
                timeout=30,
                check=False,
                env=command.env,
                cwd=home,
                user=command.user,
                group=command.user,
                extra_groups=[] if command.user is not None else None,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(str(exc)) from None
        finally:
            kill_uid(uid)
    if probe.returncode != 0:
        lines = probe.stderr.decode(errors="replace").strip().splitlines()
        raise SandboxUnavailable(lines[-1] if lines else f"exit status {probe.returncode}")


def limits() -> dict[str, int]:
    megabyte = 1024 * 1024
    return {
        "RLIMIT_CPU": settings.ENGRAM_TOOL_TIMEOUT,
        "RLIMIT_AS": settings.ENGRAM_TOOL_MEMORY_MB * megabyte,
        "RLIMIT_FSIZE": settings.ENGRAM_TOOL_OUTPUT_MB * megabyte,
        "RLIMIT_NOFILE": 256,
        "RLIMIT_CORE": 0,
        "RLIMIT_NPROC": settings.ENGRAM_TOOL_MAX_PROCESSES,
    }


def _environment(home: str, tmp: str) -> dict[str, str]:
    return {
        "PATH": PATH,
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        # One thread each: numerical libraries reserve memory per thread, and the address-space limit counts it.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }


def build_command(
    mode: Mode,
    python: str,
    code: str,
    extra_env: dict[str, str],
    *,
    uid: int | None,
    home: str,
    network: bool,
    rlimits: dict[str, int] | None = None,
    runner_drops_uid: bool = False,
) -> Command:
    """The argv that runs `code` with the runner's configuration (limits, and the uid to drop to) as argv[1]. A
    plain process becomes `uid` before exec (subprocess), or in the runner with `runner_drops_uid` (for callers
    that cannot pass a user to the process they start); under bubblewrap the runner does, once mounted.
    `rlimits` replaces the custom tools' limits (a long-lived MCP server has no CPU-time limit)."""
    chosen = limits() if rlimits is None else rlimits
    if mode == "process":
        config = json.dumps({"limits": chosen, "uid": uid if runner_drops_uid else None})
        user = None if runner_drops_uid else uid
        return Command([python, "-I", "-c", code, config], {**_environment(home, home), **extra_env}, user)
    argv = _bwrap_prefix(settings.ENGRAM_BWRAP, network=network, privileged=uid is not None)
    for name, value in {**_environment(SANDBOX_HOME, SANDBOX_TMP), **extra_env}.items():
        argv += ["--setenv", name, value]
    config = json.dumps({"limits": chosen, "uid": uid})
    return Command([*argv, python, "-I", "-c", code, config], {"PATH": PATH}, None)


def _bwrap_prefix(bwrap: str, *, network: bool, privileged: bool) -> list[str]:
    argv = [bwrap, "--die-with-parent", "--new-session"]
    if privileged:
        # Started as root: no user namespace (the runner becomes the call's own uid instead), and only what the
        # runner needs to get there. With a user namespace the tool would be root outside it.
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        argv += [] if network else ["--unshare-net"]
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-all", "--unshare-user"] + (["--share-net"] if network else [])
        argv += ["--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"]
    argv.append("--clearenv")
    argv += _parents(_SYSTEM_FILES)
    for path in _SYSTEM_DIRS + _SYSTEM_FILES:
        argv += ["--ro-bind-try", path, path]
    # The server's own directories are hidden even when they lie inside a system directory (say /usr/local).
    hidden = {str(Path(settings.BASE_DIR).resolve()), str(Path(settings.DATA_DIR).resolve())}
    for path in sorted(hidden):
        if _inside_system(path):
            argv += ["--tmpfs", path]
    # Private directories first: the interpreter may be installed below /tmp, and a later mount would hide it.
    size = str(settings.ENGRAM_TOOL_TMP_MB * 1024 * 1024)
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for path in (SANDBOX_TMP, SANDBOX_HOME):
        argv += ["--perms", "1777", "--size", size, "--tmpfs", path]
    # The interpreter: its installation and the virtual environment (which may sit inside the hidden project).
    interpreter = sorted({str(Path(sys.base_prefix).resolve()), str(Path(sys.prefix).resolve())})
    argv += _parents(interpreter)
    for path in interpreter:
        argv += ["--ro-bind", path, path]
    argv += ["--chdir", SANDBOX_HOME]
    return argv


def _parents(paths: Iterable[str]) -> list[str]:
    """Directories bubblewrap creates on the way to a mount are 0700 when it runs as root: create them traversable
    first (those inside the bound system directories exist already)."""
    parents = {str(p) for path in paths for p in Path(path).parents if str(p) != "/"}
    argv: list[str] = []
    for parent in sorted(parents, key=len):
        if not _inside_system(parent):
            argv += ["--perms", "0755", "--dir", parent]
    return argv


def _inside_system(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in _SYSTEM_DIRS)


def prepare_home(scratch: str, uid: int | None) -> str:
    """The plain process's working directory, owned by the call's uid (the scratch directory above it only
    lets it through); under bubblewrap only the server uses it."""
    home = Path(scratch, "home")
    home.mkdir()
    if uid is not None:
        Path(scratch).chmod(0o711)
        os.chown(home, uid, uid)
    return str(home)


@contextlib.contextmanager
def claim_uid() -> Iterator[int | None]:
    """A uid no other call holds (as root) and no process runs as, held until the block ends; None when the server
    is not root."""
    if not is_root():
        yield None
        return
    locks = Path(tempfile.gettempdir(), "engram-tool-uids")
    with contextlib.suppress(FileExistsError):
        locks.mkdir(mode=0o700)
    info = locks.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise SandboxUnavailable(f"{locks} must be a directory of root's, closed to others")
    base = settings.ENGRAM_TOOL_UID_BASE
    for offset in range(UID_COUNT):
        fd = os.open(locks / str(offset), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            # A claimed uid starts with no processes: a call cut short by the server's death (a plain process has
            # no --die-with-parent) may have left some, which would otherwise watch the next tenant's call.
            kill_uid(base + offset)
            yield base + offset
        finally:
            os.close(fd)  # releases the lock
        return
    raise SandboxUnavailable(f"all {UID_COUNT} tool uids are in use")


def kill_uid(uid: int | None) -> None:
    """Kills every process of `uid`: kill(-1) sent as that uid reaches all of them at once (no fork can slip in
    while the kernel walks the process list), wherever they moved to (another group, session or parent)."""
    if uid is None:
        return
    kill = shutil.which("kill", path=PATH)
    argv = [kill, "-9", "-1"] if kill else [sys.executable, "-I", "-c", "import os; os.kill(-1, 9)"]
    subprocess.run(  # noqa: S603 (fixed arguments)
        argv,
        user=uid,
        group=uid,
        extra_groups=[],
        env={"PATH": PATH},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=30,
        check=False,
    )
