"""Per-message round trip of the agent runtime with an instant fake LLM.

Round trip = run_create (the user message and a queued run, committed) → the run is claimed and executed
(one LLM step: context compile, fake LLM call through litellm, step + reply persisted, events published) →
run_wait returns it completed. Measured on:

- embedded: SQLite + the in-process executor (no Redis), as `make run`;
- production: PostgreSQL + pgvector, Redis (broker and channel layer) and a Celery worker process;

each with 10 and with 10,000 messages of history (the 10,000 are what compaction leaves: evicted into recall
memory, a summary, and a short window in context).

    python bench/step_overhead.py [--messages 200] [--profile embedded|production|both]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"embedded": 15.0, "production": 30.0}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- child: one profile ------------------------------------------------------------------------------------


def child(profile: str, count: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.llm_server import serve_in_subprocess

    fake, os.environ["OPENAI_API_BASE"] = serve_in_subprocess()  # a provider is another process
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ["ENGRAM_DATA_DIR"] = tempfile.mkdtemp(prefix="engram-bench-")
    os.environ["LOG_LEVEL"] = "WARNING"
    worker = None
    if profile == "production":
        from tests.backing import ensure_postgres, ensure_redis

        base = ensure_postgres()
        redis_url = ensure_redis()
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS engram_bench")
            conn.execute("CREATE DATABASE engram_bench")
        os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/engram_bench"
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if profile == "production":
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "llm", "--pool=solo"]
            + ["--concurrency=1", "-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT,
            env=dict(os.environ),
            start_new_session=True,
        )
    try:
        results = measure(profile, count)
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        assert fake.stdin is not None
        fake.stdin.close()
        fake.wait(timeout=10)
    print(json.dumps(results))


def measure(profile: str, count: int) -> dict[str, object]:
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import Membership
    from accounts.services import organization_create, user_create
    from agents.models import Agent, Message, RunStatus
    from agents.runtime.waiting import run_wait
    from agents.services.agents import agent_create
    from agents.services.runs import run_create

    assert ("celery" if profile == "production" else "inprocess") == settings.ENGRAM_RUN_EXECUTOR
    org = organization_create(name="bench")
    user = user_create(username=f"bench-{time.time_ns()}", password=None, organization=org, role=Membership.Role.OWNER)

    breakdown: dict[str, list[float]] = {"create": [], "queued": [], "executing": [], "wake-up": []}

    def one_round(agent: Agent, text: str) -> float:
        started = time.perf_counter()
        run = run_create(actor=user, agent=agent, messages=[{"role": "user", "content": text}])
        created = time.perf_counter()
        run = run_wait(run_id=run.id, timeout=60)
        done = timezone.now()
        elapsed = (time.perf_counter() - started) * 1000
        if run.status != RunStatus.COMPLETED:
            raise RuntimeError(f"run {run.id} ended {run.status}: {run.stop_reason} {run.error}")
        assert run.started_at and run.completed_at
        breakdown["create"].append((created - started) * 1000)
        breakdown["queued"].append((run.started_at - run.created_at).total_seconds() * 1000)
        breakdown["executing"].append((run.completed_at - run.started_at).total_seconds() * 1000)
        breakdown["wake-up"].append((done - run.completed_at).total_seconds() * 1000)
        return elapsed

    def make_agent(history: int) -> Agent:
        agent = agent_create(
            actor=user,
            model="openai/gpt-4o-mini",
            memory_blocks=[{"label": "human", "value": "Name: Ada"}, {"label": "persona", "value": "Helpful."}],
        )
        now = timezone.now()
        rows = [
            Message(
                organization_id=org.id,
                agent=agent,
                seq=i + 1,
                role="user" if i % 2 == 0 else "assistant",
                content=[{"type": "text", "text": f"old message {i} about topic {i % 97}"}],
                text=f"old message {i} about topic {i % 97}",
                in_context=i >= history - 10,
                created_at=now,
            )
            for i in range(history)
        ]
        Message.objects.bulk_create(rows, batch_size=2000)
        Agent.objects.filter(pk=agent.pk).update(
            message_seq=history, summary="Earlier: the user talked about many topics." if history > 10 else ""
        )
        agent.refresh_from_db()
        return agent

    agents = {history: make_agent(history) for history in (10, 10_000)}
    for agent in agents.values():  # warm-up: imports, connections, caches
        for i in range(10):
            one_round(agent, f"warm-up {i}")
    # Alternate between the two agents so that load from elsewhere on the machine hits both series alike.
    times: dict[int, list[float]] = {history: [] for history in agents}
    for i in range(count):
        for history, agent in agents.items():
            times[history].append(one_round(agent, f"Message number {i}: tell me something nice."))
    out: dict[str, object] = {"profile": profile, "messages": count}
    out["breakdown_p50"] = {k: round(statistics.median(v), 2) for k, v in breakdown.items()}
    from agents.models import Step

    llm_ms = [float(v) for v in Step.objects.filter(agent__in=agents.values()).values_list("latency_ms", flat=True)]
    out["breakdown_p50"]["of which LLM call"] = statistics.median(llm_ms)  # type: ignore[index]
    for history, values in times.items():
        out[f"history_{history}"] = {
            "p50": round(statistics.median(values), 2),
            "p95": round(percentile(values, 95), 2),
            "mean": round(statistics.fmean(values), 2),
        }
    return out


# -- parent ---------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--profile", choices=["embedded", "production", "both"], default="both")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.messages)
        return 0
    profiles = ["embedded", "production"] if args.profile == "both" else [args.profile]
    print(f"Per-message round trip, instant fake LLM, {args.messages} messages per series (ms)")
    print(f"{'profile':<12}{'history':>9}{'p50':>9}{'p95':>9}{'mean':>9}   target p50")
    ok = True
    for profile in profiles:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", profile, "--messages", str(args.messages)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            return 1
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        small, large = result["history_10"], result["history_10000"]
        for history, row in ((10, small), (10_000, large)):
            figures = f"{row['p50']:>9.2f}{row['p95']:>9.2f}{row['mean']:>9.2f}"
            print(f"{profile:<12}{history:>9}{figures}   ≤ {TARGETS[profile]:.0f}")
        growth = (large["p50"] / small["p50"] - 1) * 100
        print(f"{profile:<12}{'growth':>9}{growth:>+8.1f}%{'':>18}   ≤ +20%")
        parts = ", ".join(f"{k} {v:.1f}" for k, v in result["breakdown_p50"].items())
        print(f"{'':<12}p50 parts (ms): {parts}")
        ok = ok and small["p50"] <= TARGETS[profile] and large["p50"] <= TARGETS[profile] and growth <= 20
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
