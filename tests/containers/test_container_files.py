"""The container files, checked without building anything (`make compose-check` builds and runs them): the
Dockerfile, compose.yaml and the entrypoint name the right commands, and the entrypoint behaves as documented."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "scripts" / "container" / "entrypoint.sh"
HEALTHCHECK = ROOT / "scripts" / "container" / "healthcheck.sh"


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (continuation lines joined), one list per FROM."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), argument.strip()))
    return stages


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def celery_queues() -> set[str]:
    routed = {route["queue"] for route in celery_app.conf.task_routes.values()}
    return routed | {celery_app.conf.task_default_queue}


def test_the_image_runs_every_role_from_one_entrypoint_as_an_unprivileged_user() -> None:
    stages = dockerfile_stages()
    final = stages[-1]
    instructions = dict(final)  # the last of each kind
    run = " ".join(argument for instruction, argument in final if instruction == "RUN")
    assert final[0] == ("FROM", "debian:bookworm-slim")
    assert instructions["USER"] == "engram"
    assert "useradd --system --uid 10001" in run
    assert '"/app/scripts/container/entrypoint.sh"' in instructions["ENTRYPOINT"]
    assert instructions["ENTRYPOINT"].startswith('["/usr/bin/tini", "--"')
    assert instructions["CMD"] == '["web"]'
    assert "/app/scripts/container/healthcheck.sh" in instructions["HEALTHCHECK"]
    assert "bubblewrap" in run, "custom tools need the sandbox inside the image"
    assert "ENGRAM_DATA_DIR=/var/lib/engram" in instructions["ENV"]
    assert "VOLUME" not in instructions, "an image VOLUME leaves an anonymous volume behind every container"
    for script in (ENTRYPOINT, HEALTHCHECK):
        assert os.access(script, os.X_OK), f"{script.name} must be executable"
    # The dependencies come from pyproject.toml and requirements-models.txt, their one home.
    build = " ".join(argument for _, argument in stages[0])
    assert "pyproject.toml" in build and "-r /src/requirements-models.txt" in build


def test_the_dockerfile_builds_anywhere_without_this_machines_workaround() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for word in ("mmdebstrap", "runc", "--network", "cgroup", "ca-certificates/"):
        assert word not in text, f"{word!r} belongs in scripts/container/, not the Dockerfile"


def test_compose_runs_postgres_redis_web_and_a_worker_from_the_one_image() -> None:
    services = compose()["services"]
    assert {"db", "redis", "web", "worker"} <= set(services)
    assert services["db"]["image"].startswith("pgvector/pgvector:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("db", "redis"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    assert services["web"]["build"] == "."
    for name, command in (("web", ["web"]), ("worker", ["worker"]), ("beat", ["beat"])):
        service = services[name]
        assert service["image"] == "engram:latest" and service["command"] == command
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgres://engram:") and env["DATABASE_URL"].endswith("@db:5432/engram")
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), "web and worker must share a SECRET_KEY the user set"
        assert {dep: c["condition"] for dep, c in service["depends_on"].items()} == {
            "db": "service_healthy",
            "redis": "service_healthy",
        }
    assert services["beat"]["profiles"] == ["beat"]
    assert services["web"]["volumes"] == ["data:/var/lib/engram"]
    assert services["db"]["volumes"] == ["db:/var/lib/postgresql"]


def test_the_worker_consumes_every_queue_tasks_are_routed_to() -> None:
    entrypoint = ENTRYPOINT.read_text()
    worker = re.search(r"exec celery -A config worker .*?-Q (\S+)", entrypoint)
    assert worker, "the worker role starts a Celery worker"
    assert set(worker.group(1).split(",")) == celery_queues()
    make_worker = re.search(r"celery -A config worker -Q (\S+)", (ROOT / "Makefile").read_text())
    assert make_worker and set(make_worker.group(1).split(",")) == celery_queues()


def test_the_web_role_migrates_then_serves_with_daphne() -> None:
    entrypoint = ENTRYPOINT.read_text()
    web = entrypoint[entrypoint.index("  web)") : entrypoint.index(";;", entrypoint.index("  web)"))]
    assert web.index("bootstrap_admin --migrate") < web.index("exec daphne --proxy-headers -b 0.0.0.0")
    assert "config.asgi:application" in web
    assert 'exec celery -A config beat -s "${ENGRAM_DATA_DIR' in entrypoint


def run_entrypoint(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [str(ENTRYPOINT), *args],
        cwd=ROOT,
        env={**clean, "PATH": f"{bin_dir}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_entrypoint_runs_any_other_command_as_given() -> None:
    result = run_entrypoint("python", "-c", "import sys; print(sys.argv[1:])", "a b")
    assert (result.returncode, result.stdout) == (0, "['a b']\n"), result.stderr


def test_a_worker_gives_up_with_the_reason_when_the_database_never_answers(tmp_path: Path) -> None:
    from tests.backing import free_port

    result = run_entrypoint(
        "worker",
        ENGRAM_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"postgres://engram:x@127.0.0.1:{free_port()}/engram",
        ENGRAM_WAIT_SECONDS="1",
    )
    assert result.returncode == 1
    assert "gave up after 1 s: python manage.py migrate --check" in result.stderr
    assert "Connection refused" in result.stderr or "connection failed" in result.stderr, result.stderr


def test_the_migrate_role_sets_up_a_database_and_the_first_admin(tmp_path: Path) -> None:
    result = run_entrypoint("migrate", ENGRAM_DATA_DIR=str(tmp_path), ENGRAM_ADMIN_PASSWORD="compose-admin-pw")
    assert result.returncode == 0, result.stderr
    assert "Created the admin account 'admin'." in result.stdout
    assert (tmp_path / "engram.sqlite3").exists()
    again = run_entrypoint("migrate", ENGRAM_DATA_DIR=str(tmp_path))
    assert again.returncode == 0 and "Created" not in again.stdout, "a second start leaves the admin alone"
