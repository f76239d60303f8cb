"""Load figures: many agents talking at once, each LLM call taking a set time.

Each agent belongs to an organization of its own (the per-organization run cap, ENGRAM_ORG_MAX_ACTIVE_RUNS, is
about fairness between tenants, not what is measured here) and has one client that sends a message through
`POST /v1/agents/{id}/messages`, waits for the answer and sends the next one (closed loop, no think time), like
an SDK client. The scripted LLM answers every chat request after `--llm-delay` seconds, in a process of its own.
For each number of concurrent agents: a warm-up, then a measured window, and for the runs started in it:

- throughput: messages completed per second in the window, and against the bound the LLM sets
  (agents / (steps × delay)): 100 % means Engram adds nothing measurable to the cycle;
- server overhead: the client's round trip minus the LLM's scripted time (steps × delay), p50/p95/p99;
- queue wait: the run's `started_at − created_at` (the server's own timestamps), p50/p95/p99;
- CPU seconds per message of the server processes (daphne, Celery workers and their children) and, apart, of
  PostgreSQL and Redis, from /proc (psutil), over the window;
- errors: non-200 answers, client timeouts, runs that did not complete;
- the load average when the window started and ended (the machine is shared: it says how noisy a line is).

Profiles: `production` (PostgreSQL + pgvector and Redis started by tests/backing.py, one daphne, `--workers`
Celery workers) and `embedded` (`make run`'s: SQLite, the in-process executor, one daphne).

    nice python bench/load.py [--profile production|embedded|both] [--agents 10,50,100,200]
        [--llm-delay 1.0] [--seconds 30] [--warmup 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PCTS = (50, 95, 99)
FORWARDED = ("agents", "llm_delay", "seconds", "warmup", "workers", "pool", "concurrency")


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the scripted LLM, in a process of its own ------------------------------------------------------------------


def fake_llm(delay: float) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.llm_server import FakeLLM, Reply, _Server

    _Server.request_queue_size = 1024  # hundreds of clients connect at once
    fake = FakeLLM()
    fake.default = Reply(text="ok", delay=delay)
    fake._record = lambda *args: None  # type: ignore[method-assign] # keep no history: it would only grow
    fake.start()
    print(fake.base_url, flush=True)
    sys.stdin.read()
    fake.stop()


# -- CPU of process trees -----------------------------------------------------------------------------------------


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by these processes, their live descendants and the children they reaped."""
    import psutil

    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


# -- child: one profile --------------------------------------------------------------------------------------------


@dataclass
class Sample:
    agent: str
    sent: float
    answered: float
    status: int
    run_id: str | None
    error: str = ""


class Stack:
    """The server processes of one profile (daphne and, in production, the Celery workers)."""

    def __init__(self, profile: str, workers: int, pool: str, concurrency: int) -> None:
        self.profile = profile
        self.port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs = Path(tempfile.mkdtemp(prefix="engram-load-logs-"))
        if profile == "production":
            for i in range(workers):
                self._spawn(
                    f"worker{i}",
                    [PYTHON, "-m", "celery", "-A", "config", "worker", "-Q", "llm,embeddings,default"]
                    + [f"--pool={pool}", f"--concurrency={concurrency}", "-n", f"load{i}@%h", "-l", "warning"],
                )
        self._spawn(
            "daphne", [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"]
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.procs.append(subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=log, start_new_session=True))

    def wait_healthy(self, timeout: float = 300) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a server process ended: see {self.logs}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"no /v1/health within {timeout} s: see {self.logs}")

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def backing_pids() -> list[int]:
    """PostgreSQL's postmaster and Redis's server (production), found through their own connections."""
    from django.conf import settings
    from django.db import connection

    pids: list[int] = []
    if connection.vendor == "postgresql":
        import psutil

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        parent = psutil.Process(backend).parent()
        if parent is not None:
            pids.append(parent.pid)
    if settings.REDIS_URL:
        import redis

        pids.append(int(redis.Redis.from_url(settings.REDIS_URL).info("server")["process_id"]))
    return pids


def tenants(count: int) -> list[tuple[str, str]]:
    """`count` organizations, each with an owner, an API key and (through the API later) one agent."""
    from accounts.models import Membership
    from accounts.services import apikey_create, organization_create, user_create

    keys = []
    stamp = time.time_ns()
    for i in range(count):
        org = organization_create(name=f"load-{i}")
        user = user_create(username=f"load-{stamp}-{i}", password=None, organization=org, role=Membership.Role.OWNER)
        keys.append((org.name, apikey_create(user=user, name="load").raw_key))
    return keys


async def make_agents(url: str, keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def one(key: str) -> tuple[str, str]:
            body = {
                "model": "openai/gpt-4o-mini",
                "memory_blocks": [{"label": "human", "value": "Name: Ada"}, {"label": "persona", "value": "Kind."}],
            }
            answer = await client.post("/v1/agents/", json=body, headers={"Authorization": f"Bearer {key}"})
            answer.raise_for_status()
            return answer.json()["id"], key

        out = []
        for start in range(0, len(keys), 20):
            out += await asyncio.gather(*(one(key) for _, key in keys[start : start + 20]))
        return out


async def drive(
    url: str, agents: list[tuple[str, str]], warmup: float, seconds: float, once: bool = False
) -> tuple[list[Sample], float]:
    """Every agent's client sends, waits, sends again until the window closes (`once`: one message each). Returns
    every sample (warm-up included) and the window's start (time.time())."""
    import httpx

    limits = httpx.Limits(max_connections=len(agents) + 8, max_keepalive_connections=len(agents) + 8)
    samples: list[Sample] = []
    loop_start = time.time()
    stop_at = loop_start + warmup + seconds
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def talk(agent_id: str, key: str) -> None:
            n = 0
            headers = {"Authorization": f"Bearer {key}"}
            while time.time() < stop_at or (once and not n):
                n += 1
                body = {"messages": [{"role": "user", "content": f"Message {n}: tell me something nice."}]}
                sent = time.time()
                try:
                    answer = await client.post(f"/v1/agents/{agent_id}/messages", json=body, headers=headers)
                except httpx.HTTPError as exc:
                    samples.append(Sample(agent_id, sent, time.time(), 0, None, type(exc).__name__))
                    continue
                answered = time.time()
                run_id = None
                if answer.status_code == 200:
                    run_id = next((m.get("run_id") for m in answer.json()["messages"] if m.get("run_id")), None)
                error = "" if answer.status_code == 200 else answer.text[:200]
                samples.append(Sample(agent_id, sent, answered, answer.status_code, run_id, error))

        await asyncio.gather(*(talk(agent_id, key) for agent_id, key in agents))
    return samples, loop_start + warmup


def measure_level(stack: Stack, agents: list[tuple[str, str]], args: argparse.Namespace) -> dict[str, Any]:
    from agents.models import Run, RunStatus
    from lib.ids import parse_id

    server, backing = stack.pids(), backing_pids()
    load_before = loadavg()
    cpu: dict[str, float] = {}

    async def run() -> tuple[list[Sample], float]:
        task = asyncio.ensure_future(drive(stack.url, agents, args.warmup, args.seconds))
        await asyncio.sleep(args.warmup)
        cpu["server"], cpu["backing"], cpu["t"] = tree_cpu(server), tree_cpu(backing), time.time()
        await asyncio.sleep(args.seconds)
        cpu["server"] = tree_cpu(server) - cpu["server"]
        cpu["backing"] = tree_cpu(backing) - cpu["backing"]
        cpu["t"] = time.time() - cpu["t"]
        return await task

    samples, window_start = asyncio.run(run())
    load_after = loadavg()
    window_end = window_start + args.seconds
    done_in_window = [s for s in samples if window_start <= s.answered < window_end and s.status == 200]
    measured = [s for s in samples if window_start <= s.sent < window_end]
    errors = [s for s in samples if s.status != 200]
    ok = [s for s in measured if s.status == 200 and s.run_id]
    run_ids = [parse_id("run", s.run_id) for s in ok if s.run_id]
    runs = {r["id"]: r for r in Run.objects.filter(pk__in=run_ids).values()}
    overhead, queue, before_claim, after_end, in_run = [], [], [], [], []
    not_completed = 0
    steps_total = 0
    for sample, run_id in zip(ok, run_ids, strict=True):
        row = runs[run_id]
        if row["status"] != RunStatus.COMPLETED or not row["started_at"] or not row["completed_at"]:
            not_completed += 1
            continue
        llm = row["step_count"] * args.llm_delay
        steps_total += row["step_count"]
        created, started, completed = (row[k].timestamp() for k in ("created_at", "started_at", "completed_at"))
        overhead.append((sample.answered - sample.sent - llm) * 1000)
        queue.append((started - created) * 1000)
        before_claim.append((created - sample.sent) * 1000)
        in_run.append((completed - started - llm) * 1000)
        after_end.append((sample.answered - completed) * 1000)
    steps_per_run = steps_total / len(overhead) if overhead else 1.0
    throughput = len(done_in_window) / args.seconds
    bound = len(agents) / (steps_per_run * args.llm_delay)
    return {
        "agents": len(agents),
        "messages": len(done_in_window),
        "throughput": throughput,
        "bound": bound,
        "overhead": [percentile(overhead, p) for p in PCTS],
        "queue": [percentile(queue, p) for p in PCTS],
        "parts_p50": {
            "request → run created": percentile(before_claim, 50),
            "queue wait": percentile(queue, 50),
            "run minus LLM": percentile(in_run, 50),
            "run end → answer": percentile(after_end, 50),
        },
        "cpu_server": cpu["server"] / max(1, len(done_in_window)),
        "cpu_backing": cpu["backing"] / max(1, len(done_in_window)),
        "cpu_server_cores": cpu["server"] / cpu["t"],
        "errors": len(errors) + not_completed,
        "error_examples": sorted({f"{s.status} {s.error}" for s in errors})[:3],
        "load": [load_before, load_after],
    }


def child(profile: str, args: argparse.Namespace, llm_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the stack and the backing services on the way out
    os.environ.update(
        SECRET_KEY="bench-only",
        ENGRAM_DATA_DIR=tempfile.mkdtemp(prefix="engram-load-"),
        LOG_LEVEL="WARNING",
        OPENAI_API_BASE=llm_url,
        OPENAI_API_KEY="bench",
        DJANGO_SETTINGS_MODULE="config.settings",
        HF_HUB_OFFLINE="1",
    )
    if profile == "production":
        from tests.backing import ensure_postgres, ensure_redis

        base = ensure_postgres()
        os.environ["REDIS_URL"] = ensure_redis()
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS engram_load")
            conn.execute("CREATE DATABASE engram_load")
        os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/engram_load"
    else:
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    levels = [int(n) for n in args.agents.split(",")]
    keys = tenants(max(levels))
    stack = Stack(profile, args.workers, args.pool, args.concurrency)
    try:
        stack.wait_healthy()
        agents = asyncio.run(make_agents(stack.url, keys))
        # Every agent answers once before anything is measured: the workers are up (daphne answering says nothing
        # about them), their connections, caches and the embedding model are warm.
        primed, _ = asyncio.run(drive(stack.url, agents, 0, 0, once=True))
        if any(s.status != 200 for s in primed):
            raise RuntimeError(f"priming failed: {[s.error for s in primed if s.status != 200][:3]}")
        for level in levels:
            result = measure_level(stack, agents[:level], args)
            print(json.dumps({"profile": profile, **result}), flush=True)
    finally:
        stack.stop()


# -- parent --------------------------------------------------------------------------------------------------------


def report(row: dict[str, Any]) -> None:
    o, q = row["overhead"], row["queue"]
    share = 100 * row["throughput"] / row["bound"]
    print(
        f"{row['profile']:<11}{row['agents']:>6}{row['throughput']:>8.1f}{share:>6.0f}%"
        f"{o[0]:>8.0f}{o[1]:>7.0f}{o[2]:>7.0f}{q[0]:>8.0f}{q[1]:>7.0f}{q[2]:>7.0f}"
        f"{row['cpu_server'] * 1000:>8.1f}{row['cpu_backing'] * 1000:>7.1f}{row['cpu_server_cores']:>6.2f}"
        f"{row['errors']:>7}   {row['load'][0]:.1f}→{row['load'][1]:.1f}",
        flush=True,
    )
    parts = ", ".join(f"{k} {v:.0f}" for k, v in row["parts_p50"].items())
    print(f"{'':<17}p50 parts (ms): {parts}", flush=True)
    for example in row["error_examples"]:
        print(f"{'':<17}error: {example}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["production", "embedded", "both"], default="both")
    parser.add_argument("--agents", default="10,50,100,200", help="concurrent agents per level (comma-separated)")
    parser.add_argument("--llm-delay", type=float, default=1.0, help="seconds the scripted LLM takes per call")
    parser.add_argument("--seconds", type=float, default=30, help="measured window per level")
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured seconds before each window")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (production)")
    parser.add_argument("--pool", default="threads", help="their Celery pool (production)")
    parser.add_argument("--concurrency", type=int, default=50, help="their concurrency (production; as `make worker`)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--llm-url", help=argparse.SUPPRESS)
    parser.add_argument("--fake-llm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_llm:
        fake_llm(args.llm_delay)
        return 0
    if args.child:
        child(args.child, args, args.llm_url)
        return 0
    fake = subprocess.Popen(
        [PYTHON, __file__, "--fake-llm", "--llm-delay", str(args.llm_delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fake.stdout is not None and fake.stdin is not None
    llm_url = fake.stdout.readline().strip()
    profiles = ["production", "embedded"] if args.profile == "both" else [args.profile]
    print(
        f"Load: closed-loop clients, one agent each, LLM {args.llm_delay:g} s per call; window {args.seconds:g} s "
        f"after {args.warmup:g} s warm-up; production: {args.workers} Celery workers, "
        f"--pool={args.pool} --concurrency={args.concurrency}; {os.cpu_count()} cores"
    )
    print("times in ms; CPU in ms per message (server = daphne + workers; backing = PostgreSQL + Redis)")
    print(
        f"{'profile':<11}{'agents':>6}{'msg/s':>8}{'bound':>7}{'ovh50':>8}{'ovh95':>7}{'ovh99':>7}"
        f"{'queue50':>8}{'q95':>7}{'q99':>7}{'cpu/msg':>8}{'back':>7}{'cores':>6}{'errors':>7}   load avg"
    )
    status = 0
    try:
        for profile in profiles:
            forwarded = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k in FORWARDED]
            proc = subprocess.Popen(
                [PYTHON, __file__, *forwarded, "--child", profile, "--llm-url", llm_url],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("{"):
                    report(json.loads(line))
            if proc.wait() != 0:
                status = 1
    finally:
        fake.stdin.close()
        fake.wait(timeout=10)
    return status


if __name__ == "__main__":
    sys.exit(main())
