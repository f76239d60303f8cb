"""The one launcher of the benchmarks' servers.

`Stack`: the production profile as separate processes, for benchmarks that load it or break it (bench/chaos.py,
bench/load.py): PostgreSQL + pgvector, Redis, daphne, N Celery workers and the scripted fake LLM, each one a
process this module can kill, stop gracefully or restart, plus helpers to make organizations, users, API keys
and agents the way an operator and a client would (bench/stack_client.py, mixed in).

    with Stack(workers=2) as stack:
        tenant = stack.tenants(1)[0]                      # organization, owner, API key
        agent_id = stack.create_agent(tenant)             # POST /v1/agents
        stack.kill_worker(0)                              # SIGKILL the worker's whole process group
        stack.start_worker(0)
        stack.restart_postgres(); stack.restart_redis(); stack.restart_daphne()

PostgreSQL and Redis keep their data directory and port across restarts (Redis with an append-only file, as
compose.yaml runs it), so a restart is an outage, not a new empty service. The bench process itself never
imports Django: tenants are made by a `manage.py shell` child, and the database is read with plain SQL
(`stack.sql`), so a PostgreSQL restart only costs the bench a reconnect.

The fake LLM runs in this process (`llm="thread"`: `stack.llm` is a `tests.fakes.llm_server.FakeLLM` to script,
and its `default` may be a callable) or in a process of its own (`llm="process"`: a real provider is another
process; `stack.llm_default(...)` sets its default reply through the fake's control endpoint).

`serve(env)`: one daphne (and Celery workers if asked) on a database that exists (bench/ade_speed.py);
`live_server(org)` serves this process's Django database (bench/_django.py) with production settings and yields
its URL and an API key of the org's owner (search_latency.py --http, locomo_api.py, searchable.py).
`profile="embedded"` is `make run`'s instead: one daphne on SQLite in its data directory, runs in its in-process
pool, no PostgreSQL, Redis or workers (`stack.sql` then reads the SQLite file; bench/load.py).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.stack_client import EMBEDDING, StackClient, Tenant  # noqa: E402
from tests import backing  # noqa: E402
from tests.fakes.llm_server import FakeLLM  # noqa: E402


@dataclass
class _Proc:
    name: str
    command: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    popen: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.popen.pid

    def start(self) -> None:
        if self.alive:
            return
        with open(self.log, "ab") as log_file:
            self.popen = subprocess.Popen(  # noqa: S603 (our own commands)
                self.command,
                cwd=ROOT,
                env=self.env or None,
                user=self.user,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: signals reach its children (Celery's pool)
            )

    def send(self, sig: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def wait(self, timeout: float) -> bool:
        """Wait until the process has exited; True if it did."""
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        self.send(sig)
        if not self.wait(timeout):
            self.send(signal.SIGKILL)
            self.wait(10)
        # Whatever the group left behind (a Celery pool child that missed its parent's death) goes too.
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        return backing._log_tail(self.log, lines)


def daphne_command(port: int, *options: str) -> list[str]:
    return [sys.executable, "-m", "daphne", *options, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]


def worker_command(*options: str) -> list[str]:
    """A Celery worker of the project with these options (queues, pool, name, log level)."""
    return [sys.executable, "-m", "celery", "-A", "config", "worker", *options]


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/health/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(url: str, procs: Sequence[_Proc], timeout: float = 60) -> None:
    """Wait until the server at `url` answers /v1/health/; raise with the log's tail of the first of `procs`
    (the server) or of one that ended."""
    deadline = time.monotonic() + timeout
    while not healthy(url):
        ended = [proc for proc in procs if not proc.alive]
        if ended or time.monotonic() > deadline:
            proc = (ended or list(procs))[0]
            raise RuntimeError(f"{proc.name} did not start:\n{proc.tail()}")
        time.sleep(0.05)


@contextlib.contextmanager
def serve(env: dict[str, str], *, workers: Sequence[Sequence[str]] = (), timeout: float = 60) -> Iterator[str]:
    """daphne with `env` (its settings and database), and one Celery worker per entry of `workers` (its options),
    until the block ends; yields daphne's base URL. Logs go to a directory kept only when the block fails."""
    workdir = Path(tempfile.mkdtemp(prefix="engram-serve-"))
    port = backing.free_port()
    procs = [_Proc("daphne", daphne_command(port, "-v", "0"), workdir / "daphne.log", env=env)]
    for index, options in enumerate(workers):
        procs.append(_Proc(f"worker{index}", worker_command(*options), workdir / f"worker{index}.log", env=env))
    url = f"http://127.0.0.1:{port}"
    try:
        for proc in procs:
            proc.start()
        wait_healthy(url, procs, timeout)
        yield url
    except BaseException:
        print(f"server logs kept in {workdir}", file=sys.stderr)
        raise
    finally:
        for proc in procs:
            proc.stop(signal.SIGTERM, timeout=20)
    shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True)
class Served(Tenant):
    """`live_server`'s: the organization's owner's API key (as a Tenant) and daphne's base URL."""

    url: str


@contextlib.contextmanager
def live_server(
    organization: Any, env: dict[str, str] | None = None, *, workers: Sequence[Sequence[str]] = ()
) -> Iterator[Served]:
    """daphne with production settings (persistent connections, the embedded default embedder unless `env` says
    otherwise) on the database of this process's Django, and an API key of the owner `bench` of `organization`.
    Imports Django: only for a process that has set it up (bench/_django.py)."""
    from django.contrib.auth import get_user_model

    from accounts.models import Membership
    from accounts.services import apikey_create, user_create
    from bench._django import database_url

    user = get_user_model().objects.filter(username="bench").first() or user_create(
        username="bench", password=None, organization=organization, role=Membership.Role.OWNER
    )
    key = apikey_create(user=user, name="bench").raw_key
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": database_url()}
    with serve({**environment, **(env or {})}, workers=workers) as url:
        yield Served(str(organization.id), user.get_username(), key, url)


class Stack(StackClient):
    """PostgreSQL, Redis, daphne, `workers` Celery workers (`pool`, `concurrency` each) and the fake LLM; or, with
    `profile="embedded"`, daphne on SQLite and the fake LLM.

    `env` adds or overrides settings of daphne and the workers (e.g. ENGRAM_ORG_MAX_ACTIVE_RUNS,
    ENGRAM_LLM_TIMEOUT). Every process logs to `<workdir>/<name>.log`; `keep=True` leaves the directory.
    `start_timeout`: seconds daphne and each worker may take to start (more on a busy machine).
    `postgres_options`: more `-c name=value` settings of PostgreSQL (bench/load.py --counts preloads
    pg_stat_statements)."""

    def __init__(
        self,
        *,
        workers: int = 2,
        concurrency: int = 2,
        env: dict[str, str] | None = None,
        llm: str = "thread",
        workdir: Path | None = None,
        keep: bool = False,
        profile: str = "production",
        pool: str = "prefork",
        start_timeout: float = 60,
        postgres_options: Sequence[str] = (),
    ) -> None:
        if llm not in ("thread", "process"):
            raise ValueError("llm must be 'thread' or 'process'")
        if profile not in ("production", "embedded"):
            raise ValueError("profile must be 'production' or 'embedded'")
        self.profile = profile
        self.pool = pool
        self.start_timeout = start_timeout
        self.postgres_options = list(postgres_options)
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="engram-stack-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o711)  # PostgreSQL runs as another user when we are root: it must reach pg/
        self.keep = keep
        self.worker_count = workers if profile == "production" else 0
        self.concurrency = concurrency
        self.extra_env = dict(env or {})
        self.llm_mode = llm
        self.llm: FakeLLM | None = None
        self._llm_proc: subprocess.Popen[str] | None = None
        self.llm_base_url = ""
        self.postgres: _Proc | None = None
        self.redis: _Proc | None = None
        self.daphne: _Proc | None = None
        self.workers: list[_Proc] = []
        self.pg_port = 0
        self.redis_port = 0
        self.http_port = 0

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> Self:
        try:
            self._start_llm()
            if self.profile == "production":
                self._init_postgres()
                self.start_postgres()
                self._init_redis()
                self.start_redis()
            self._migrate()
            self._init_daphne()
            self.start_daphne(self.start_timeout)
            self.workers = [self._worker_proc(i) for i in range(self.worker_count)]
            for index in range(self.worker_count):
                self.start_worker(index, timeout=self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, *, keep: bool | None = None) -> None:
        """Stop every process; the directory (logs) stays when `keep` (default: the constructor's)."""
        for proc in [*self.workers, self.daphne]:
            if proc is not None:
                proc.stop(signal.SIGTERM, timeout=20)
        if self.redis is not None:
            self.redis.stop(signal.SIGTERM, timeout=10)
        if self.postgres is not None:
            self.postgres.stop(signal.SIGINT, timeout=20)
        if self.llm is not None:
            self.llm.stop()
        if self._llm_proc is not None and self._llm_proc.stdin is not None:
            self._llm_proc.stdin.close()
            self._llm_proc.wait(timeout=10)
        if not (self.keep if keep is None else keep):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop(keep=self.keep or exc_type is not None)  # a failed run keeps its logs

    # -- addresses -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """daphne's base URL (the API is under /v1)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.pg_port}/engram"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def sqlite_path(self) -> Path:
        """The embedded profile's database (ENGRAM_DATA_DIR/engram.sqlite3, as config/settings.py names it)."""
        return self.workdir / "data" / "engram.sqlite3"

    def server_env(self) -> dict[str, str]:
        """The environment daphne and the workers run with (production settings)."""
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": "bench-stack-only",
            "ENGRAM_DATA_DIR": str(self.workdir / "data"),
            "OPENAI_API_BASE": self.llm_base_url,
            "OPENAI_API_KEY": "sk-fake",
            "ENGRAM_DEFAULT_EMBEDDING": EMBEDDING,
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        env.pop("ENGRAM_TEST_DB", None)
        if self.profile == "embedded":  # the settings' defaults: SQLite in the data directory, runs in-process
            del env["DATABASE_URL"], env["REDIS_URL"]
        env.update(self.extra_env)
        return env

    # -- the fake LLM ----------------------------------------------------------------------------------------

    def _start_llm(self) -> None:
        if self.llm_mode == "thread":
            self.llm = FakeLLM().start()
            self.llm_base_url = self.llm.base_url
            return
        self._llm_proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "tests.fakes.llm_server"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._llm_proc.stdout is not None
        self.llm_base_url = self._llm_proc.stdout.readline().strip()

    def llm_default(self, **reply: Any) -> None:
        """Set the fake's default reply (fields of tests.fakes.llm_server.Reply: text, delay, chunk_delay,
        error_status, error_message, error_code, cut_after, tool_calls=[[name, arguments], ...]) in either mode."""
        httpx.post(self.llm_base_url.removesuffix("/v1") + "/_fake/default", json=reply, timeout=10).raise_for_status()

    # -- PostgreSQL ------------------------------------------------------------------------------------------

    def _init_postgres(self) -> None:
        bindir = backing._pg_bin()
        user = None
        if os.geteuid() == 0:  # postgres refuses to run as root
            user = backing._PG_USER_WHEN_ROOT
            bindir = backing._readable_bindir(bindir, user)
        pgdir = self.workdir / "pg"
        pgdir.mkdir()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(pgdir, entry.pw_uid, entry.pw_gid)
        data = pgdir / "data"
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres"]
        initdb += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
        done = subprocess.run(initdb, check=False, user=user, capture_output=True, text=True)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        self.pg_port = backing.free_port()
        command = [str(bindir / "postgres"), "-D", str(data), "-p", str(self.pg_port), "-h", "127.0.0.1", "-k", ""]
        settings = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=300")
        for setting in (*settings, *self.postgres_options):
            command += ["-c", setting]
        self.postgres = _Proc("postgres", command, pgdir / "postgres.log", user=user)
        self._pg_data = data

    def start_postgres(self, timeout: float = 60) -> None:
        assert self.postgres is not None
        self.postgres.start()
        assert self.postgres.popen is not None
        if not backing._wait_postgres_ready(self.postgres.popen, self._pg_data / "postmaster.pid", timeout):
            raise RuntimeError(f"PostgreSQL did not start:\n{self.postgres.tail()}")
        import psycopg

        base = self.database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(base, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'engram'").fetchone():
                conn.execute("CREATE DATABASE engram")

    def stop_postgres(self, *, fast: bool = True) -> None:
        """Stop PostgreSQL: `fast` (SIGINT) aborts open transactions and disconnects clients at once."""
        assert self.postgres is not None
        self.postgres.stop(signal.SIGINT if fast else signal.SIGTERM, timeout=30)

    def restart_postgres(self) -> None:
        self.stop_postgres()
        self.start_postgres()

    # -- Redis -----------------------------------------------------------------------------------------------

    def _init_redis(self) -> None:
        binary = backing._redis_server_binary()
        rdir = self.workdir / "redis"
        rdir.mkdir()
        self.redis_port = backing.free_port()
        command = [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--dir", str(rdir)]
        self.redis = _Proc("redis", command, rdir / "redis.log")

    def start_redis(self, timeout: float = 20) -> None:
        assert self.redis is not None
        self.redis.start()
        deadline = time.monotonic() + timeout
        while not backing._redis_ping(self.redis_port):
            if not self.redis.alive or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{self.redis.tail()}")
            time.sleep(0.02)

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.stop(signal.SIGTERM, timeout=20)

    def restart_redis(self) -> None:
        self.stop_redis()
        self.start_redis()

    # -- the server and the workers --------------------------------------------------------------------------

    def _migrate(self) -> None:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=ROOT,
            env=self.server_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    def _init_daphne(self) -> None:
        self.http_port = backing.free_port()
        command = daphne_command(self.http_port)
        self.daphne = _Proc("daphne", command, self.workdir / "daphne.log", env=self.server_env())

    def start_daphne(self, timeout: float = 60) -> None:
        assert self.daphne is not None
        self.daphne.start()
        wait_healthy(self.url, [self.daphne], timeout)

    def stop_daphne(self, sig: int = signal.SIGTERM) -> None:
        assert self.daphne is not None
        self.daphne.stop(sig, timeout=20)

    def restart_daphne(self, sig: int = signal.SIGTERM) -> None:
        self.stop_daphne(sig)
        self.start_daphne()

    def healthy(self) -> bool:
        return healthy(self.url)

    def _worker_proc(self, index: int) -> _Proc:
        options = ["-n", f"bench{index}@%h", "-Q", "llm,embeddings,default", f"--pool={self.pool}"]
        command = worker_command(*options, f"--concurrency={self.concurrency}", "-l", "warning")
        return _Proc(f"worker{index}", command, self.workdir / f"worker{index}.log", env=self.server_env())

    def start_worker(self, index: int, *, wait: bool = True, timeout: float = 60) -> None:
        """Start worker `index` (again); with `wait`, return once it answers a ping."""
        self.workers[index].start()
        if wait:
            self.wait_worker(index, timeout)

    def wait_worker(self, index: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.ping_worker(index):
            if not self.workers[index].alive or time.monotonic() > deadline:
                raise RuntimeError(f"worker {index} did not start:\n{self.workers[index].tail()}")
            time.sleep(0.2)

    def ping_worker(self, index: int, timeout: float = 1.0) -> bool:
        """Whether worker `index` answers a Celery control ping (it is consuming)."""
        from celery import Celery

        app = Celery(broker=self.redis_url)
        try:
            replies = app.control.ping(timeout=timeout)
        except Exception:  # noqa: BLE001 (Redis down or restarting: not answering)
            return False
        finally:
            app.close()
        return any(name.startswith(f"bench{index}@") for reply in replies for name in reply)

    def kill_worker(self, index: int) -> None:
        """SIGKILL the worker and its pool processes at once (a machine or container dies)."""
        self.workers[index].send(signal.SIGKILL)
        self.workers[index].wait(10)

    def terminate_worker(self, index: int, timeout: float = 60) -> None:
        """SIGTERM: Celery's warm shutdown (finish the tasks in hand, then exit)."""
        self.workers[index].stop(signal.SIGTERM, timeout=timeout)

    def worker_pids(self) -> list[int | None]:
        return [w.pid if w.alive else None for w in self.workers]

    def server_pids(self) -> list[int]:
        """daphne's and the workers' (each the head of its process group: a prefork pool's children are theirs)."""
        return [proc.pid for proc in [self.daphne, *self.workers] if proc is not None and proc.alive]

    def backing_pids(self) -> list[int]:
        """PostgreSQL's postmaster and Redis's server (production)."""
        return [proc.pid for proc in [self.postgres, self.redis] if proc is not None and proc.alive]

    # -- data ------------------------------------------------------------------------------------------------

    def sql(self, query: str, params: Any = None, *, retry_for: float = 30) -> list[tuple[Any, ...]]:
        """Run one read query on the stack's database (retrying while PostgreSQL restarts). Embedded: on the
        SQLite file (`%s` placeholders as for PostgreSQL; ids are 32 hex digits and times UTC text there)."""
        if self.profile == "embedded":
            with contextlib.closing(sqlite3.connect(self.sqlite_path, timeout=retry_for)) as db:
                return list(db.execute(query.replace("%s", "?"), params or ()).fetchall())
        import psycopg

        deadline = time.monotonic() + retry_for
        while True:
            try:
                with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
                    return list(conn.execute(query, params).fetchall())
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def load_average(self) -> str:
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f} {five:.2f} {fifteen:.2f}"
