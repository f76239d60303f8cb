"""PostgreSQL goes away under Celery workers, for real: a cluster of the test's own (never the session's database)
that the test stops (`pg_ctl stop -m fast`) and starts again, a Redis of its own, and a daphne and one Celery
worker with production settings on them, with the prefork pool and with the thread pool (`WORKER_POOL`).

- A pool process that replaces one that died (SIGKILL here; an OOM kill or a hard time limit in production) is
  forked after the worker's own threads opened its connection pool. It must not take that pool over: its idle
  connections are the worker's sessions (Celery's Django fixup closed them from the new process, ending the
  worker's sessions) and its maintenance threads did not come across the fork.
- Runs in flight when the database goes away for longer than a Celery back-off would wait finish within seconds
  of its return: their holder waits for the database and claims them again as soon as it answers (before, the
  task's retries ran out during the outage and the runs waited for their lease to lapse), and a send made right
  after the restart is answered. Nothing is stored twice.

The test does not use the session's database, so it is the same test on both test databases."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.api.test_database_outage import EMBEDDING, MODEL, migrate_and_make_key, server_env, wait_healthy
from tests.backing import PostgresCluster, RedisServer, free_port, stop_group

ROOT = Path(__file__).resolve().parents[3]
OUTAGE = 12  # seconds: longer than the task's old retries with DB_POOL_TIMEOUT=1 (at most 1+1+2+1+4+1 s)
RECOVERY = 10  # seconds after the restart by which the runs in flight and a fresh send are answered
WORKER_APP = "engram-outage-worker"  # the worker's sessions' application_name, told apart from daphne's


@pytest.fixture
def backing():
    cluster = PostgresCluster().start()
    redis = RedisServer(appendonly=False).start()
    yield cluster, redis
    redis.remove()
    cluster.remove()


def _start(command, env, log):
    with open(log, "ab") as out:
        return subprocess.Popen(  # noqa: S603 (our own commands)
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait(predicate, timeout, message):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, message()
        time.sleep(0.1)


def _worker_sessions(cluster) -> int:
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        return int(conn.execute(query, [WORKER_APP]).fetchone()[0])


def _pool_processes(worker) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True, check=False)  # noqa: S607
    return [int(pid) for pid in found.stdout.split()]


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_runs_in_flight_and_fresh_sends_finish_within_seconds_of_a_postgres_restart(backing, fake_llm, pool):
    cluster, redis = backing
    fake_llm.default = lambda body: f"echo: {body['messages'][-1]['content']}"
    data_dir = Path(tempfile.mkdtemp(prefix="engram-outage-workers-"))
    env = server_env(cluster, fake_llm, data_dir)
    env.update(REDIS_URL=redis.url, ENGRAM_RUN_EXECUTOR="celery", DB_POOL_TIMEOUT="1", ENGRAM_RUN_LEASE_SECONDS="90")
    key = migrate_and_make_key(env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    daphne_log, worker_log = data_dir / "daphne.log", data_dir / "worker.log"
    daphne = _start(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"], env, daphne_log
    )
    worker_env = {**env, "DATABASE_URL": f"{cluster.url()}?application_name={WORKER_APP}"}
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "llm,embeddings,default"]
    command += [f"--pool={pool}", "--concurrency=2", "-l", "info", "--without-gossip", "--without-mingle"]
    worker = _start(command, worker_env, worker_log)
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120)

    def logs():
        return f"worker log:\n{worker_log.read_text(errors='replace')[-5000:]}"

    def send(agent_id, text, mode=""):
        body = {"messages": [{"role": "user", "content": text}]}
        return api.post(f"/v1/agents/{agent_id}/messages{mode}", json=body)

    try:
        wait_healthy(url, daphne, daphne_log)
        _wait(lambda: "ready." in worker_log.read_text(errors="replace"), 120, logs)
        agents = []
        for name in ("tulips", "roses", "daisies"):
            made = api.post("/v1/agents/", json={"name": name, "model": MODEL, "embedding": EMBEDDING})
            assert made.status_code in (200, 201), made.text
            agents.append(made.json()["id"])
        for agent_id in agents:
            assert send(agent_id, "warm").status_code == 200

        if pool == "prefork":
            # The worker's own threads (the sweeps, the lease renewals) hold pooled sessions by now; its pool
            # processes die and Celery forks new ones, which must leave those sessions alone.
            _wait(lambda: _worker_sessions(cluster) > 0, 30, logs)
            dead = _pool_processes(worker)
            assert len(dead) == 2, dead
            logged = len(worker_log.read_text(errors="replace"))
            for pid in dead:
                os.kill(pid, signal.SIGKILL)
            _wait(lambda: len(set(_pool_processes(worker)) - set(dead)) == 2, 60, logs)
            time.sleep(3)  # the new processes have started, and the worker has checked its pool (every second)
            since = worker_log.read_text(errors="replace")[logged:]
            main = [line for line in since.splitlines() if "/MainProcess]" in line and "connection" in line]
            broken = [line for line in main if "broken" in line or "closed" in line]
            assert not broken, "the new pool processes ended the worker's own sessions:\n" + "\n".join(broken)
            assert send(agents[2], "after the new processes").status_code == 200

        # Two runs in flight, each waiting for its model's answer when PostgreSQL stops.
        asked = len(fake_llm.chat_requests())
        fake_llm.reply("slow 0", delay=2).reply("slow 1", delay=2)
        runs = [send(agent_id, f"during {n}", "/async").json()["id"] for n, agent_id in enumerate(agents[:2])]
        _wait(lambda: len(fake_llm.chat_requests()) >= asked + 2, 60, logs)
        cluster.stop("fast")
        time.sleep(OUTAGE)
        cluster.start()
        back = time.monotonic()
        fresh = send(agents[2], "fresh")
        while fresh.status_code == 503 and time.monotonic() - back < RECOVERY:  # as the SDKs do (a 503 stored nothing)
            time.sleep(0.2)
            fresh = send(agents[2], "fresh")
        fresh_in = time.monotonic() - back
        finished: dict[str, float] = {}

        def all_finished():
            for run_id in runs:
                if run_id not in finished and api.get(f"/v1/runs/{run_id}").json()["status"] == "completed":
                    finished[run_id] = time.monotonic() - back
            return len(finished) == len(runs) or time.monotonic() - back > 4 * RECOVERY

        _wait(all_finished, 6 * RECOVERY, logs)
        history = {
            agent_id: api.get(f"/v1/agents/{agent_id}/messages", params={"limit": 50, "order": "asc"}).json()
            for agent_id in agents
        }
    finally:
        api.close()
        stop_group(worker, signal.SIGTERM, timeout=30)
        stop_group(daphne, timeout=30)
    assert fresh.status_code == 200, fresh.text[:500]
    assert fresh_in < RECOVERY, f"a fresh send took {fresh_in:.1f} s after the restart\n{logs()}"
    assert set(finished) == set(runs), f"runs not completed {RECOVERY * 4} s after the restart\n{logs()}"
    assert max(finished.values()) < RECOVERY, f"the runs in flight took {finished} s after the restart\n{logs()}"
    # Each send stored once, each answered once (the step cut by the outage was asked again, stored once).
    for n, agent_id in enumerate(agents):
        said = [m["content"] for m in history[agent_id] if m["message_type"] == "user_message"]
        replies = [m["content"] for m in history[agent_id] if m["message_type"] == "assistant_message"]
        expected = {0: ["warm", "during 0"], 1: ["warm", "during 1"]}.get(n, ["warm", "fresh"])
        if n == 2 and pool == "prefork":
            expected = ["warm", "after the new processes", "fresh"]
        assert said == expected, json.dumps(history[agent_id])[:2000]
        assert len(replies) == len(expected), json.dumps(history[agent_id])[:2000]
