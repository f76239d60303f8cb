"""Chaos bench: the production profile (bench/stack.py: PostgreSQL + pgvector, Redis, daphne, two Celery workers)
under a steady load of sends from several organizations, agents and conversations (sync, streamed, async and
conversation streams; bench/chaos_load.py), against the scripted fake LLM, while faults are injected one kind at a
time and then mixed:

  worker-kill      SIGKILL a worker (its whole process group) while runs are in flight, then start it again
  worker-term      SIGTERM a worker (Celery's warm shutdown), then start it again
  redis            restart Redis (same port and append-only file)
  postgres         restart PostgreSQL (fast shutdown: open transactions aborted, clients cut)
  daphne           restart daphne while SSE streams are open
  llm-429          a burst of 429 rate-limit answers        llm-500       a burst of 500s
  llm-timeout      answers slower than ENGRAM_LLM_TIMEOUT   llm-bad-json  tool calls with malformed JSON arguments
  llm-cut          answers cut off mid-way                  llm-overflow  context-length-exceeded errors
  mixed            all of the above in a random order

For each kind it prints: sends accepted; runs completed / failed with a reason / failed without one / stuck;
user messages lost (accepted, never stored) and duplicated; assistant replies duplicated (more replies than
steps in a run); seconds to recover: from the end of the fault (the process back up) to the first successful send
begun after it, by any client; also until the probe's fresh send was answered, and until every run begun before
the end of the fault finished; the errors clients saw, by kind; and the load average.
Goal: 0 lost, 0 duplicated, 0 stuck, every failure with a reason, recovery <= 5 s.

    python bench/chaos.py --quick                 # a few minutes: one or two of each fault
    python bench/chaos.py                         # worker SIGKILL x50 and more of the others
    python bench/chaos.py --quick --faults worker-kill,llm-500
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chaos_load import Client, Send, Target, error_kinds  # noqa: E402
from bench.stack import Stack, Tenant  # noqa: E402
from tests.fakes.llm_server import Reply, ToolCall  # noqa: E402

LLM_TIMEOUT = 4  # ENGRAM_LLM_TIMEOUT of the stack: the timeout fault answers later than this
LLM_DELAY = 0.4  # seconds per normal answer: runs are in flight when a fault strikes
KINDS = [
    "worker-kill",
    "worker-term",
    "redis",
    "postgres",
    "daphne",
    "llm-429",
    "llm-500",
    "llm-timeout",
    "llm-bad-json",
    "llm-cut",
    "llm-overflow",
]
# How many times each fault is injected (quick, full).
COUNTS = {"worker-kill": (3, 50), "worker-term": (1, 5), "redis": (1, 3), "postgres": (1, 3), "daphne": (1, 3)}
LLM_FAULT_SECONDS = 3.0
GOAL_RECOVERY = 5.0


class ScriptedLLM:
    """The fake LLM's default answer: a short text after LLM_DELAY, or the current fault's answer."""

    def __init__(self) -> None:
        self.fault: str | None = None
        self.calls = 0

    def __call__(self, body: dict[str, object]) -> Reply:
        self.calls += 1
        fault = self.fault
        if fault == "llm-429":
            return _error(429, "Rate limit reached for requests", "rate_limit_exceeded")
        if fault == "llm-500":
            return _error(500, "The server had an error while processing your request")
        if fault == "llm-timeout":
            return Reply(text="too late", delay=LLM_TIMEOUT + 2)
        if fault == "llm-bad-json":
            return Reply(tool_calls=[ToolCall("send_message", '{"message": "unfinished')])
        if fault == "llm-cut":
            return Reply(text="this answer is cut off somewhere in the middle of it", cut_after=3)
        if fault == "llm-overflow":
            message = "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000."
            return _error(400, message, "context_length_exceeded")
        return Reply(text=f"answer {self.calls}", delay=LLM_DELAY)


def _error(status: int, message: str, code: str | None = None) -> Reply:
    kind = {429: "rate_limit_exceeded", 400: "invalid_request_error"}.get(status, "server_error")
    return Reply(
        error_status=status, error_body={"error": {"message": message, "type": kind, "param": None, "code": code}}
    )


@dataclass
class Phase:
    kind: str
    faults: list[tuple[float, float]] = field(default_factory=list)  # (start, end) wall-clock of each injection
    ends: list[float] = field(default_factory=list)  # the end of each injection, time.monotonic() (Send's clock)
    recoveries: list[tuple[float, float]] = field(default_factory=list)  # (answered, drained) seconds
    recovered: list[float] = field(default_factory=list)  # seconds to recover: fault end → first successful send
    probes: list[Send] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    row: dict[str, object] = field(default_factory=dict)


class Bench:
    def __init__(self, stack: Stack, llm: ScriptedLLM, probe: Tenant, quick: bool) -> None:
        self.stack = stack
        self.llm = llm
        self.quick = quick
        self.recovery_limit = 60.0 if quick else 120.0
        self.org_ids: list[str] = []
        self.targets: list[Target] = []
        self.probe = Target("probe", "sync", stack.create_agent(probe, name="chaos-probe"), probe.headers)

    def load_on(self, tenants: list[Tenant]) -> None:
        """Each phase loads organizations and agents of its own: a run an earlier fault left stuck holds its
        agent and one of its organization's run slots, and would count against the next fault too."""
        self.org_ids = [t.organization_id for t in tenants]
        self.targets = []
        for n, tenant in enumerate(tenants):
            sync_agent = self.stack.create_agent(tenant, name=f"chaos-sync-{n}")
            stream_agent = self.stack.create_agent(tenant, name=f"chaos-stream-{n}")
            async_agent = self.stack.create_agent(tenant, name=f"chaos-async-{n}")
            conversation = self.stack.create_conversation(tenant, sync_agent)
            headers = tenant.headers
            self.targets += [
                Target(f"t{n}-sync", "sync", sync_agent, headers),
                Target(f"t{n}-stream", "stream", stream_agent, headers),
                Target(f"t{n}-async", "async", async_agent, headers),
                Target(f"t{n}-conv", "conversation", sync_agent, headers, conversation),
            ]

    # -- one phase: load on, faults, load off, settle, count ------------------------------------------------

    def phase(self, kind: str, count: int) -> Phase:
        phase = Phase(kind)
        tag = f"{kind}-{time.time_ns() % 10**9}"
        stop = threading.Event()
        clients = [Client(self.stack.url, target, tag, pause=0.3, stop=stop) for target in self.targets]
        for client in clients:
            client.start()
        time.sleep(3)  # the load is steady before the first fault
        kinds = self._mixed(count) if kind == "mixed" else [kind] * count
        for fault in kinds:
            self._wait_for_running()
            started = time.time()
            self.inject(fault)
            ended = time.time()
            phase.faults.append((started, ended))
            phase.ends.append(time.monotonic())
            phase.recoveries.append(self._recover(ended, self.recovery_limit, phase.probes))
        time.sleep(2)
        stop.set()
        deadline = time.monotonic() + 90  # a send in flight ends or gives up (a stuck run's client waits)
        for client in clients:
            client.join(timeout=max(0.1, deadline - time.monotonic()))
            phase.sends += client.sends
        self._settle(tag, self.recovery_limit)
        phase.recovered = self.seconds_to_recover(phase)
        phase.row = self.count(tag, phase)
        return phase

    def seconds_to_recover(self, phase: Phase) -> list[float]:
        """Per fault: from its end (the process back up) to the first successful send made after it, by any
        client or the probe (the limit when none succeeded before the next fault or the end of the phase)."""
        sends = phase.sends + phase.probes
        out = []
        for n, end in enumerate(phase.ends):
            before = phase.ends[n + 1] if n + 1 < len(phase.ends) else float("inf")
            done = [s.finished for s in sends if s.outcome == "completed" and end <= s.started < before]
            out.append(min(done) - end if done else self.recovery_limit)
        return out

    def _mixed(self, count: int) -> list[str]:
        kinds = [k for k in KINDS for _ in range(1 if self.quick else 2)]
        random.Random(19).shuffle(kinds)
        return kinds[: max(count, len(KINDS))]

    def _wait_for_running(self, timeout: float = 15) -> None:
        """Strike while a run is in flight (mid-step), when there is one within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._active(statuses=("running",)):
                return
            time.sleep(0.05)

    def _active(self, statuses: tuple[str, ...] = ("queued", "running"), before: float | None = None) -> int:
        query = "SELECT count(*) FROM agents_run WHERE status = ANY(%s) AND organization_id::text = ANY(%s)"
        params: list[object] = [list(statuses), self.org_ids]
        if before is not None:
            query += " AND created_at <= to_timestamp(%s)"
            params.append(before)
        return int(self.stack.sql(query, params)[0][0])

    def inject(self, fault: str) -> None:
        stack = self.stack
        if fault == "worker-kill":
            index = random.randrange(len(stack.workers))
            stack.kill_worker(index)
            stack.start_worker(index)
        elif fault == "worker-term":
            index = random.randrange(len(stack.workers))
            stack.terminate_worker(index, timeout=120)
            stack.start_worker(index)
        elif fault == "redis":
            stack.restart_redis()
        elif fault == "postgres":
            stack.restart_postgres()
        elif fault == "daphne":
            stack.restart_daphne()
        else:
            self.llm.fault = fault
            time.sleep(LLM_FAULT_SECONDS)
            self.llm.fault = None

    def _recover(self, ended: float, limit: float, probes: list[Send]) -> tuple[float, float]:
        """Seconds from the end of a fault until a fresh send is answered, and until every run begun before the
        end has finished (the backlog drained; `limit` when that never happens: those runs are stuck). The probe's
        sends go to `probes`."""
        probe = Client(self.stack.url, self.probe, "probe", pause=0, stop=threading.Event())
        probe.sends = probes
        probe.http.timeout = probe.http.timeout.__class__(30, connect=2)
        answered = drained = None
        deadline = ended + limit
        try:
            while time.time() < deadline and (answered is None or drained is None):
                if answered is None:
                    send = probe.send_one(f"probe {time.time_ns()}")
                    if send.outcome == "completed":
                        answered = time.time() - ended
                if drained is None and self._active(before=ended) == 0:
                    drained = time.time() - ended
                time.sleep(0.1)
        finally:
            probe.http.close()
        return (limit if answered is None else answered), (limit if drained is None else drained)

    def _settle(self, tag: str, limit: float = 120) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and self._active():
            time.sleep(0.5)

    # -- what became of the sends ---------------------------------------------------------------------------

    def count(self, tag: str, phase: Phase) -> dict[str, object]:
        like = f"chaos {tag} %"
        query = "SELECT otid, count(*) FROM agents_message WHERE role = 'user' AND text LIKE %s GROUP BY otid"
        stored: Counter[str] = Counter(dict(self.stack.sql(query, [like])))
        runs = self.stack.sql(
            "SELECT r.status, r.stop_reason, r.error,"
            " (SELECT count(*) FROM agents_message m WHERE m.run_id = r.id AND m.role = 'assistant'),"
            " (SELECT count(*) FROM agents_step s WHERE s.run_id = r.id)"
            " FROM agents_run r WHERE r.id IN"
            " (SELECT run_id FROM agents_message WHERE role = 'user' AND text LIKE %s)",
            [like],
        )
        accepted = [s for s in phase.sends if s.accepted]
        statuses = Counter(status for status, *_ in runs)
        reasons = Counter(f"{reason or '?'}" for status, reason, *_ in runs if status in ("failed", "cancelled"))
        no_reason = sum(1 for status, reason, error, *_ in runs if status == "failed" and not (reason or error))
        return {
            "sends": len(phase.sends),
            "accepted": len(accepted),
            "completed": statuses["completed"],
            "failed": statuses["failed"] + statuses["cancelled"],
            "failed, no reason": no_reason,
            "stuck": statuses["queued"] + statuses["running"],
            "lost": sum(1 for s in accepted if stored[s.otid] == 0),
            "dup msgs": sum(n - 1 for n in stored.values() if n > 1),
            "dup replies": sum(max(0, replies - steps) for *_, replies, steps in runs),
            "recover s": max(phase.recovered, default=0.0),
            "answer s": max((a for a, _ in phase.recoveries), default=0.0),
            "drain s": max((d for _, d in phase.recoveries), default=0.0),
            "reasons": dict(reasons),
            "client errors": dict(error_kinds(phase.sends).most_common(8)),
            "load": self.stack.load_average(),
        }


def report(phases: list[Phase]) -> bool:
    columns = ["sends", "accepted", "completed", "failed", "failed, no reason", "stuck", "lost", "dup msgs"]
    columns += ["dup replies", "recover s", "answer s", "drain s"]
    print()
    print("| fault | n | " + " | ".join(columns) + " | load avg |")
    print("|---" * (len(columns) + 3) + "|")
    ok = True
    for phase in phases:
        row = phase.row
        cells = [f"{row[c]:.1f}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        print(f"| {phase.kind} | {len(phase.faults)} | " + " | ".join(cells) + f" | {row['load']} |")
        recovered = float(row["recover s"]) <= GOAL_RECOVERY  # type: ignore[arg-type]
        ok = ok and recovered and not any(row[c] for c in ("failed, no reason", "stuck", "lost", "dup msgs"))
        ok = ok and not row["dup replies"]
    print()
    for phase in phases:
        print(f"{phase.kind}: failed runs by reason {phase.row['reasons'] or '{}'}")
        print(f"{'':>{len(phase.kind)}}  client errors {phase.row['client errors'] or '{}'}")
        pairs = zip(phase.recovered, phase.recoveries, strict=True)
        triples = " ".join(f"{r:.1f}/{a:.1f}/{d:.1f}" for r, (a, d) in pairs)
        print(f"{'':>{len(phase.kind)}}  seconds to recover per fault, recovered/answered/drained: {triples}")
    print()
    print(
        "goal met: 0 lost, 0 duplicated, 0 stuck, every failure with a reason, recovery <= 5 s"
        if ok
        else "goal NOT met"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one or two faults of each kind (a few minutes)")
    parser.add_argument("--faults", default=",".join([*KINDS, "mixed"]), help="comma-separated kinds to run")
    parser.add_argument("--tenants", type=int, default=0, help="organizations under load (default 2 quick, 3 full)")
    parser.add_argument("--kills", type=int, default=0, help="worker SIGKILLs (default 3 quick, 50 full)")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for daphne and the workers")
    parser.add_argument("--keep", action="store_true", help="keep the stack's directory (logs) at the end")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.faults.split(",") if k.strip()]
    unknown = sorted(set(kinds) - {*KINDS, "mixed"})
    if unknown:
        parser.error(f"unknown fault kinds: {', '.join(unknown)}")
    env = {
        "ENGRAM_LLM_TIMEOUT": str(LLM_TIMEOUT),
        "ENGRAM_LLM_RETRY_BACKOFF_MS": "200",
        "ENGRAM_DISPATCH_SWEEP_SECONDS": "2",
        "ENGRAM_DISPATCH_STALE_SECONDS": "10",
    }
    for setting in args.env:
        key, _, value = setting.partition("=")
        env[key] = value
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `kill` still stops every process of the stack
    llm = ScriptedLLM()
    started = time.monotonic()
    with Stack(workers=2, concurrency=2, env=env, keep=args.keep) as stack:
        assert stack.llm is not None
        stack.llm.default = llm
        per_phase = args.tenants or (2 if args.quick else 3)
        tenants = stack.tenants(per_phase * len(kinds) + 1, prefix="chaos")
        bench = Bench(stack, llm, tenants.pop(), args.quick)
        up = time.monotonic() - started
        print(f"stack up in {up:.0f} s (logs: {stack.workdir}); load average {stack.load_average()}", flush=True)
        phases = []
        for kind in kinds:
            count = COUNTS.get(kind, (1, 3))[0 if args.quick else 1]
            if kind == "worker-kill" and args.kills:
                count = args.kills
            bench.load_on([tenants.pop() for _ in range(per_phase)])
            phase = bench.phase(kind, 1 if kind == "mixed" else count)
            row = phase.row
            print(
                f"{kind}: {row['accepted']}/{row['sends']} accepted, {row['completed']} completed, "
                f"{row['failed']} failed, {row['stuck']} stuck, {row['lost']} lost, "
                f"recovered after {row['recover s']:.1f} s (first successful send after the fault), "
                f"answered after {row['answer s']:.1f} s, drained after {row['drain s']:.1f} s, load {row['load']}",
                flush=True,
            )
            phases.append(phase)
    report(phases)
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
