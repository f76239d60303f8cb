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

Profiles (bench/stack.py launches both): `production` (PostgreSQL + pgvector, Redis, one daphne, `--workers`
Celery workers on `--pool` with `--concurrency` each, as `make worker` runs them) and `embedded` (`make run`'s:
SQLite, the in-process executor, one daphne). The fake LLM is a process of its own; messages are embedded with
the local model, as both profiles do by default.

    nice python bench/load.py [--profile production|embedded|both] [--agents 10,50,100,200]
        [--llm-delay 1.0] [--seconds 30] [--warmup 5] [--workers 2] [--inprocess-workers N]
        [--py-spy DIR] [--counts]

`--py-spy DIR` records daphne and each worker during every window (bench/profiling.py summarizes the files);
`--counts` prints, per message, the CPU of each process, the SQL statements (pg_stat_statements) and the Redis
commands. Both cost some CPU of their own: measure without them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.profiling import Counters, Spies, print_counts  # noqa: E402
from bench.stack import Stack, Tenant  # noqa: E402
from lib.ids import parse_id  # noqa: E402

PCTS = (50, 95, 99)
WORKER_NAMES = tuple(f"worker{i}" for i in range(16))
ARGS = argparse.Namespace(counts=False, py_spy="")  # the report's switches (main sets them)
EMBEDDING = "local/all-minilm-l6-v2-int8"  # the settings' default: what `make run` and the image embed with


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


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


# -- one profile ---------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    agent: str
    sent: float
    answered: float
    status: int
    run_id: str | None
    error: str = ""


async def make_agents(url: str, tenants: list[Tenant]) -> list[tuple[str, Tenant]]:
    """One agent per tenant (20 created at a time), with the server's default embedding model."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=300) as client:

        async def one(tenant: Tenant) -> tuple[str, Tenant]:
            body = {
                "model": "openai/gpt-4o-mini",
                "memory_blocks": [{"label": "human", "value": "Name: Ada"}, {"label": "persona", "value": "Kind."}],
            }
            answer = await client.post("/v1/agents/", json=body, headers=tenant.headers)
            answer.raise_for_status()
            return str(answer.json()["id"]), tenant

        out = []
        for start in range(0, len(tenants), 20):
            out += await asyncio.gather(*(one(tenant) for tenant in tenants[start : start + 20]))
        return out


async def drive(
    url: str, agents: list[tuple[str, Tenant]], warmup: float, seconds: float, once: bool = False
) -> tuple[list[Sample], float]:
    """Every agent's client sends, waits, sends again until the window closes (`once`: one message each). Returns
    every sample (warm-up included) and the window's start (time.time())."""
    import httpx

    limits = httpx.Limits(max_connections=len(agents) + 8, max_keepalive_connections=len(agents) + 8)
    samples: list[Sample] = []
    loop_start = time.time()
    stop_at = loop_start + warmup + seconds
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def talk(agent_id: str, tenant: Tenant) -> None:
            n = 0
            headers = tenant.headers
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

        await asyncio.gather(*(talk(agent_id, tenant) for agent_id, tenant in agents))
    return samples, loop_start + warmup


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _time(value: Any) -> dt.datetime | None:
    """A timestamp as PostgreSQL (aware) or SQLite (UTC text) returns it."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)


def runs_read(stack: Stack, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The runs' status, steps and the server's own timestamps, read from the database."""
    wanted = set(run_ids)
    query = "SELECT id, status, step_count, created_at, started_at, completed_at FROM agents_run"
    out = {}
    for run_id, status, steps, created, started, completed in stack.sql(query):
        if (key := _uuid(run_id)) in wanted:
            out[key] = {
                "status": status,
                "step_count": steps,
                "created_at": _time(created),
                "started_at": _time(started),
                "completed_at": _time(completed),
            }
    return out


def named_pids(stack: Stack) -> dict[str, int]:
    """The stack's processes by name (daphne, worker0…, postgres, redis)."""
    procs = [stack.daphne, *stack.workers, stack.postgres, stack.redis]
    return {proc.name: proc.pid for proc in procs if proc is not None and proc.alive}


def measure_level(stack: Stack, agents: list[tuple[str, Tenant]], args: argparse.Namespace) -> dict[str, Any]:
    server, backing = stack.server_pids(), stack.backing_pids()
    load_before = loadavg()
    cpu: dict[str, float] = {}
    each: dict[str, float] = {}
    counters = Counters(stack.database_url, stack.redis_url) if args.counts and stack.profile == "production" else None
    counted: dict[str, Any] = {}
    spies = None

    async def run() -> tuple[list[Sample], float]:
        nonlocal spies
        task = asyncio.ensure_future(drive(stack.url, agents, args.warmup, args.seconds))
        await asyncio.sleep(args.warmup)
        if counters is not None:
            counters.start()
        if args.py_spy:
            spied = {name: pid for name, pid in named_pids(stack).items() if name in ("daphne", *WORKER_NAMES)}
            spies = Spies(Path(args.py_spy), spied, f"{stack.profile}-{len(agents)}", args.seconds)
        each.update({name: tree_cpu([pid]) for name, pid in named_pids(stack).items()})
        cpu["server"], cpu["backing"], cpu["t"] = tree_cpu(server), tree_cpu(backing), time.time()
        await asyncio.sleep(args.seconds)
        cpu["server"] = tree_cpu(server) - cpu["server"]
        cpu["backing"] = tree_cpu(backing) - cpu["backing"]
        cpu["t"] = time.time() - cpu["t"]
        each.update({name: tree_cpu([pid]) - each.get(name, 0.0) for name, pid in named_pids(stack).items()})
        if counters is not None:
            counted["statements"], counted["redis"] = counters.read()
        return await task

    samples, window_start = asyncio.run(run())
    if spies is not None:
        spies.wait()
    load_after = loadavg()
    window_end = window_start + args.seconds
    done_in_window = [s for s in samples if window_start <= s.answered < window_end and s.status == 200]
    measured = [s for s in samples if window_start <= s.sent < window_end]
    errors = [s for s in samples if s.status != 200]
    ok = [s for s in measured if s.status == 200 and s.run_id]
    run_ids = [parse_id("run", s.run_id) for s in ok if s.run_id]
    runs = runs_read(stack, run_ids)
    overhead, queue, before_claim, after_end, in_run = [], [], [], [], []
    not_completed = 0
    steps_total = 0
    for sample, run_id in zip(ok, run_ids, strict=True):
        row = runs[run_id]
        if row["status"] != "completed" or not row["started_at"] or not row["completed_at"]:
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
        "cpu_each": {name: seconds / max(1, len(done_in_window)) for name, seconds in each.items()},
        "counts": counted,
    }


def run_profile(profile: str, args: argparse.Namespace) -> None:
    """Start the profile's stack, make one agent per organization for the largest level, and measure each level."""
    levels = [int(n) for n in args.agents.split(",")]
    env = {"ENGRAM_DEFAULT_EMBEDDING": EMBEDDING, "HF_HUB_OFFLINE": "1"}
    if args.inprocess_workers:
        env["ENGRAM_INPROCESS_WORKERS"] = str(args.inprocess_workers)
    stack = Stack(
        profile=profile,
        workers=args.workers,
        pool=args.pool,
        concurrency=args.concurrency,
        llm="process",
        env=env,
        start_timeout=300,  # a busy machine starts daphne slowly
        postgres_options=["shared_preload_libraries=pg_stat_statements"] if args.counts else [],
    )
    with stack:
        stack.llm_default(text="ok", delay=args.llm_delay)
        agents = asyncio.run(make_agents(stack.url, stack.tenants(max(levels), prefix="load")))
        # Every agent answers once before anything is measured: the workers are up (daphne answering says nothing
        # about them), their connections, caches and the embedding model are warm.
        primed, _ = asyncio.run(drive(stack.url, agents, 0, 0, once=True))
        if any(s.status != 200 for s in primed):
            raise RuntimeError(f"priming failed: {[s.error for s in primed if s.status != 200][:3]}")
        for level in levels:
            report({"profile": profile, **measure_level(stack, agents[:level], args)})


# -- the report ----------------------------------------------------------------------------------------------------


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
    if row["cpu_each"] and (ARGS.counts or ARGS.py_spy):
        each = ", ".join(f"{name} {seconds * 1000:.1f}" for name, seconds in row["cpu_each"].items())
        print(f"{'':<17}CPU ms/msg by process: {each}", flush=True)
    if row["counts"]:
        print_counts(row["counts"]["statements"], row["counts"]["redis"], row["messages"])


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
    parser.add_argument(
        "--inprocess-workers", type=int, default=0, help="runs at once in the embedded profile (default: the settings')"
    )
    parser.add_argument(
        "--py-spy", metavar="DIR", default="", help="record daphne and the workers with py-spy in each window (DIR)"
    )
    parser.add_argument(
        "--counts", action="store_true", help="SQL statements, Redis commands and each process's CPU per message"
    )
    args = parser.parse_args()
    ARGS.counts, ARGS.py_spy = args.counts, args.py_spy
    profiles = ["production", "embedded"] if args.profile == "both" else [args.profile]
    print(
        f"Load: closed-loop clients, one agent each, LLM {args.llm_delay:g} s per call; window {args.seconds:g} s "
        f"after {args.warmup:g} s warm-up; production: {args.workers} Celery workers, "
        f"--pool={args.pool} --concurrency={args.concurrency}; embedded: ENGRAM_INPROCESS_WORKERS="
        f"{args.inprocess_workers or 'default'}; {os.cpu_count()} cores; load average {loadavg():.1f}"
    )
    print("times in ms; CPU in ms per message (server = daphne + workers; backing = PostgreSQL + Redis)")
    print(
        f"{'profile':<11}{'agents':>6}{'msg/s':>8}{'bound':>7}{'ovh50':>8}{'ovh95':>7}{'ovh99':>7}"
        f"{'queue50':>8}{'q95':>7}{'q99':>7}{'cpu/msg':>8}{'back':>7}{'cores':>6}{'errors':>7}   load avg"
    )
    for profile in profiles:
        run_profile(profile, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
