"""Who holds something: a token naming this process (host, pid, start time), and whether the process a token
names is gone. A server restarted on the same data directory tells at once that its predecessor's runs have no
holder any more (agents.runtime.lease), instead of waiting for their leases to lapse."""

import os
import socket
import uuid


def _process_start(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot, Linux), or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


HOST = socket.gethostname().replace(":", "_")


def holder_token(prefix: str) -> str:
    """A claim token that names this process: `<prefix><host>:<pid>:<start time>:<uuid>`."""
    pid = os.getpid()
    return f"{prefix}{HOST}:{pid}:{_process_start(pid) or 0}:{uuid.uuid4()}"


def holder_dead(token: str, prefix: str) -> bool:
    """The process named by an in-process token of this host is gone (a pid reused since counts as gone)."""
    if not token.startswith(f"{prefix}{HOST}:") or not os.path.exists("/proc/self/stat"):
        return False
    try:
        _, pid, start, _ = token.removeprefix(prefix).rsplit(":", 3)
        return _process_start(int(pid)) != start
    except ValueError:
        return False
