"""`make compose-check`'s driver (scripts/container/compose-check.sh runs it once the images exist): brings the
compose stack up, has letta-client run a turn and then the whole SDK scenario against it, and tears it down.

The provider is the scripted fake LLM (tests/fakes), reached through OPENAI_API_BASE. Every service joins the host's
network (an override file next to compose.yaml, written here), since some machines have no other container
network, and listens on a free port, so it never meets another stack or test run on the same host.

Usage: python -m tests.containers.compose_check ENGINE COMPOSE...   (e.g. `podman podman-compose`,
`docker docker compose`). Not collected by pytest: it needs the images built.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.api import sdk_scenario
from tests.backing import free_port
from tests.fakes.llm_server import FakeLLM

ROOT = Path(__file__).resolve().parents[2]
TURN_REPLY = "Noted: you are Grace, and the stack runs in containers."
START_TIMEOUT = 300  # seconds for migrations and the first ready answer on a busy 2-core machine


def log(message: str) -> None:
    print(f"[compose-check {time.strftime('%H:%M:%S')}] {message}", flush=True)


# What lets bubblewrap run inside the containers (README, "Docker"): /proc not masked, so it can mount a fresh one.
# Without it custom tools are disabled there; with it the SDK scenario's custom tool runs sandboxed.
SANDBOX_OPTIONS = {"podman": ["unmask=ALL"], "docker": ["systempaths=unconfined", "seccomp=unconfined"]}


def host_network_override(*, engine: str, web: int, db: int, redis: int, database_url: str, redis_url: str) -> str:
    """Compose override: every service on the host's network, each on its own free port."""
    app_env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "PORT": str(web)}
    app = {"network_mode": "host", "environment": app_env, "security_opt": SANDBOX_OPTIONS[engine]}
    override = {
        "services": {
            "db": {
                "network_mode": "host",
                "command": ["postgres", "-p", str(db), "-c", "listen_addresses=127.0.0.1"],
                "healthcheck": {
                    "test": ["CMD", "pg_isready", "-h", "127.0.0.1", "-p", str(db), "-U", "engram", "-d", "engram"]
                },
            },
            "redis": {
                "network_mode": "host",
                "command": ["redis-server", "--port", str(redis), "--bind", "127.0.0.1", "--save", ""],
                "healthcheck": {"test": ["CMD", "redis-cli", "-p", str(redis), "ping"]},
            },
            "web": {**app, "ports": []},
            "worker": app,
        }
    }
    return json.dumps(override, indent=2)  # JSON is YAML


class Stack:
    def __init__(self, engine: str, compose: list[str], workdir: Path, env: dict[str, str]) -> None:
        self.engine, self.workdir, self.env = engine, workdir, env
        self.project = f"engram-check-{secrets.token_hex(3)}"
        override = workdir / "compose.host-network.yaml"
        self.compose = [*compose, "-p", self.project, "-f", str(ROOT / "compose.yaml"), "-f", str(override)]

    def run(self, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            cwd=ROOT,
            env={**os.environ, **self.env},
            check=check,
            text=True,
            capture_output=capture,
        )

    def container(self, service: str) -> str:
        """The container of `service` (labelled by compose, podman-compose and docker compose alike)."""
        out = self.run(
            self.engine,
            "ps",
            "-a",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
            "--format",
            "{{.Names}}",
            capture=True,
        ).stdout.split()
        assert len(out) == 1, f"one {service} container expected, found {out}"
        return out[0]

    def logs(self, service: str, tail: int = 60) -> str:
        result = self.run(self.engine, "logs", "--tail", str(tail), self.container(service), check=False, capture=True)
        return result.stdout + result.stderr

    def healthy(self, service: str, timeout: float = 120) -> None:
        """The image's HEALTHCHECK passes. podman runs it on demand (its timer needs systemd); docker on its own."""
        name = self.container(service)
        deadline = time.monotonic() + timeout
        while True:
            if self.engine == "podman":
                result = self.run("podman", "healthcheck", "run", name, check=False, capture=True)
                ok, last = result.returncode == 0, result.stdout + result.stderr
            else:
                result = self.run("docker", "inspect", "-f", "{{json .State.Health}}", name, capture=True)
                ok, last = '"Status":"healthy"' in result.stdout, result.stdout
            if ok:
                log(f"{service}: health check passes")
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{service} is not healthy after {timeout:.0f} s: {last}\n{self.logs(service)}")
            time.sleep(3)


def wait_ready(url: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/v1/ready/", timeout=5) as response:
                return dict(json.loads(response.read()))
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = str(exc)
        time.sleep(2)
    raise AssertionError(f"{url}/v1/ready/ did not answer 200 in {timeout:.0f} s (last: {last})")


def sdk_turn(url: str, key: str, fake: FakeLLM) -> None:
    """One turn through the web container, run by the worker: the model edits memory, then answers."""
    from letta_client import Letta

    client = Letta(base_url=url, api_key=key, max_retries=0)
    agent = client.agents.create(
        name="compose-check",
        model="openai/gpt-4o-mini",
        memory_blocks=[{"label": "human", "value": "Name: unknown"}],
    )
    fake.tool_call("memory_replace", {"label": "human", "old_str": "Name: unknown", "new_str": "Name: Grace"})
    fake.reply(TURN_REPLY)
    started = time.monotonic()
    response = client.agents.messages.create(
        agent_id=agent.id, messages=[{"role": "user", "content": "I am Grace; remember it."}]
    )
    took = time.monotonic() - started
    types = [m.message_type for m in response.messages]
    assert types == ["tool_call_message", "tool_return_message", "assistant_message"], types
    assert response.messages[-1].content == TURN_REPLY
    assert response.stop_reason.stop_reason == "end_turn"
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Grace"
    assert len(fake.chat_requests()) >= 2, "the model calls reached the fake LLM from the containers"
    log(f"SDK turn: {types} -> {response.messages[-1].content!r} in {took:.2f} s; memory block updated")


def main(argv: list[str]) -> int:
    engine, compose = argv[0], argv[1:]
    with tempfile.TemporaryDirectory(prefix="engram-compose-check-") as tmp, FakeLLM() as fake:
        workdir = Path(tmp)
        web, db, redis = free_port(), free_port(), free_port()
        password = secrets.token_hex(16)
        env = {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "POSTGRES_PASSWORD": password,
            "ENGRAM_ADMIN_PASSWORD": secrets.token_urlsafe(16),
            "OPENAI_API_BASE": fake.base_url,
            "OPENAI_API_KEY": "sk-fake",
            "WORKER_CONCURRENCY": "2",
        }
        (workdir / "compose.host-network.yaml").write_text(
            host_network_override(
                engine=engine,
                web=web,
                db=db,
                redis=redis,
                database_url=f"postgres://engram:{password}@127.0.0.1:{db}/engram",
                redis_url=f"redis://127.0.0.1:{redis}/0",
            )
        )
        stack = Stack(engine, compose, workdir, env)
        url = f"http://127.0.0.1:{web}"
        log(f"project {stack.project}: web :{web}, PostgreSQL :{db}, Redis :{redis}, fake LLM {fake.base_url}")
        ok = False
        try:
            started = time.monotonic()
            stack.run(*stack.compose, "up", "-d", "--no-build")
            ready = wait_ready(url, START_TIMEOUT)
            log(f"web ready in {time.monotonic() - started:.1f} s: {ready}")
            with urllib.request.urlopen(f"{url}/v1/health/", timeout=10) as response:
                health = json.loads(response.read())
            log(f"health: {health}")
            assert health["tool_sandbox"] == "bwrap", "custom tools run under bubblewrap inside the containers"
            stack.healthy("web")
            stack.healthy("worker")
            for service in ("web", "worker"):
                user = stack.run(stack.engine, "exec", stack.container(service), "id", "-un", capture=True)
                assert user.stdout.strip() == "engram", f"{service} runs as {user.stdout.strip()!r}"
            log("web and worker run as the unprivileged user engram")
            created = stack.run(
                stack.engine,
                "exec",
                stack.container("web"),
                "python",
                "manage.py",
                "apikey",
                "create",
                "admin",
                "--name",
                "compose-check",
                capture=True,
            )
            key = created.stdout.strip().splitlines()[-1]
            assert key.startswith("sk-"), created.stdout
            fake.reset()
            sdk_turn(url, key, fake)
            worker_log = stack.logs("worker", tail=400)
            assert "agents.run_agent" in worker_log and "succeeded" in worker_log, worker_log
            log("the run executed on the Celery worker (its log shows agents.run_agent succeeded)")
            fake.reset()
            sdk_scenario.script_fake_llm(fake)
            started = time.monotonic()
            sdk_scenario.run(url, key)
            log(f"the whole SDK scenario (tests/api/sdk_scenario.py) passes in {time.monotonic() - started:.1f} s")
            ok = True
        finally:
            if not ok:
                for service in ("db", "redis", "web", "worker"):
                    try:
                        print(f"--- {service} log ---\n{stack.logs(service)}", flush=True)
                    except AssertionError as exc:
                        print(f"--- {service}: {exc}", flush=True)
            log("tearing down")
            stack.run(*stack.compose, "down", "-v", check=False, capture=True)
            left = stack.run(
                stack.engine,
                "ps",
                "-a",
                "--filter",
                f"label=com.docker.compose.project={stack.project}",
                "--format",
                "{{.Names}}",
                capture=True,
            ).stdout.split()
            assert not left, f"containers left after down: {left}"
            volumes = stack.run(
                stack.engine,
                "volume",
                "ls",
                "-q",
                "--filter",
                f"label=com.docker.compose.project={stack.project}",
                capture=True,
            ).stdout.split()
            assert not volumes, f"volumes left after down: {volumes}"
            log("stack removed (containers and volumes)")
    log("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
