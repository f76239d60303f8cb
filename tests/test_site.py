import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent


def test_health_needs_no_key() -> None:
    for path in ("/v1/health/", "/v1/health", "/latest/health/"):
        response = APIClient().get(path)
        assert response.status_code == 200, path
        assert response.json()["status"] == "ok"


def test_health_says_which_isolation_custom_tools_get(settings: Any) -> None:
    assert shutil.which("bwrap"), "this test needs bubblewrap: apt-get install bubblewrap (make test does)"
    assert APIClient().get("/v1/health/").json() == {
        "version": settings.LETTA_COMPATIBLE_VERSION,  # what letta-code compares against (0.16.6 or newer)
        "engram_version": settings.ENGRAM_VERSION,
        "status": "ok",
        "tool_sandbox": "bwrap",
    }
    settings.ENGRAM_BWRAP = "/nonexistent/bwrap"
    assert APIClient().get("/v1/health/").json()["tool_sandbox"] == "disabled"
    settings.ENGRAM_TOOL_SANDBOX = "process"  # runs tools as another user, so only a root server can
    assert APIClient().get("/v1/health/").json()["tool_sandbox"] == ("process" if os.geteuid() == 0 else "disabled")
    settings.ENGRAM_TOOL_SANDBOX = "disabled"
    assert APIClient().get("/v1/health/").json()["tool_sandbox"] == "disabled"


@pytest.mark.django_db
def test_pages_redirect_anonymous_users_to_sign_in(client: Any) -> None:
    for path in ("/", "/members/", "/keys/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/login/"), path
    assert client.get("/accounts/login/").status_code == 200


@pytest.mark.django_db
def test_sign_in_reaches_the_agent_list(client: Any, alice: Any) -> None:
    response = client.post("/accounts/login/", {"username": "alice", "password": "password-alice"}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/"
    assert b"Agents" in response.content


def _start_django(**env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")}
    full_env.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://db/engram"),
        ("REDIS_URL", "localhost:6379"),
        ("DB_CONN_MAX_AGE", "forever"),
        ("CSRF_TRUSTED_ORIGINS", "example.com"),
        ("ENGRAM_LOGIN_FAILURE_LIMIT", "0"),
        ("ENGRAM_LOGIN_COOLOFF_MINUTES", "soon"),
        ("ENGRAM_WS_RECHECK_SECONDS", "-1"),
        ("ENGRAM_ALLOWED_API_BASES", "http://vllm.internal:8000/v1,vllm-2.internal:8000"),
    ],
)
def test_a_malformed_env_var_stops_start_up_naming_it(name: str, value: str, tmp_path: Path) -> None:
    result = _start_django(**{name: value, "ENGRAM_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.strip().splitlines()[-1]


def test_well_formed_env_starts(tmp_path: Path) -> None:
    result = _start_django(DEBUG="false", ENGRAM_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").exists()


def test_the_data_dir_is_closed_to_other_users(tmp_path: Path) -> None:
    """It holds the SQLite database and the secret key; custom tools run as other users."""
    fresh, loose = tmp_path / "fresh", tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    for data_dir in (fresh, loose):
        result = _start_django(ENGRAM_DATA_DIR=str(data_dir))
        assert result.returncode == 0, result.stderr
        assert data_dir.stat().st_mode & 0o777 == 0o700


@pytest.mark.django_db
def test_the_database_has_pgvector_on_postgres() -> None:
    if connection.vendor != "postgresql":
        assert os.environ.get("ENGRAM_TEST_DB") == "sqlite"
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
        assert row is not None, "the vector extension is not installed in the test database"
        cursor.execute("SELECT '[1,2,3]'::vector <=> '[1,2,4]'::vector")
        assert cursor.fetchone()[0] >= 0
        cursor.execute("SHOW server_version_num")
        assert int(cursor.fetchone()[0]) >= 180000


class ThreadRecorder:
    """A middleware that notes the thread of each step of a request (see the test below)."""

    seen: list[tuple[str, int]] = []

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        self.seen.append(("middleware", threading.get_ident()))
        return self.get_response(request)

    def process_view(self, *args: Any) -> None:
        self.seen.append(("view", threading.get_ident()))


def test_each_request_runs_its_sync_work_in_one_crossing_on_a_reused_thread(settings: Any) -> None:
    """Django's ASGI handler sends each middleware step to a thread on its own (about fifteen crossings per
    request) and starts a new thread, so a new database connection, for every request."""
    from asgiref.sync import async_to_sync
    from asgiref.testing import ApplicationCommunicator
    from django.core.signals import request_finished, request_started

    from config.handlers import EngramASGIHandler

    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.test_site.ThreadRecorder"]
    handler = EngramASGIHandler()
    ThreadRecorder.seen = []

    def started(**kwargs: Any) -> None:
        ThreadRecorder.seen.append(("request_started", threading.get_ident()))

    def finished(**kwargs: Any) -> None:
        ThreadRecorder.seen.append(("request_finished", threading.get_ident()))

    async def get(path: str) -> int:
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
        }
        communicator = ApplicationCommunicator(handler, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(10)
        await communicator.receive_output(10)
        await communicator.wait(10)
        return int(start["status"])

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        with ThreadPoolExecutor(1) as pool:  # its own thread: the session's Playwright loop may own this one
            statuses = [pool.submit(async_to_sync(get), "/v1/health/").result(timeout=30) for _ in range(3)]
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert statuses == [200, 200, 200]
    steps = [step for step, _ in ThreadRecorder.seen]
    assert steps == ["request_started", "middleware", "view", "request_finished"] * 3
    assert len({thread for _, thread in ThreadRecorder.seen}) == 1, ThreadRecorder.seen
    assert ThreadRecorder.seen[0][1] != threading.get_ident()


def test_static_files_and_pages_are_served_through_asgi() -> None:
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    async def fetch() -> tuple[int, bytes, int]:
        client = AsyncClient()
        response = await client.get("/static/engram/ade.js")
        body = b"".join([chunk async for chunk in response]) if response.streaming else response.content
        return response.status_code, body, (await client.get("/v1/health/")).status_code

    with ThreadPoolExecutor(1) as pool:  # its own thread: the session's Playwright loop may own this one
        status, body, health = pool.submit(async_to_sync(fetch)).result(timeout=30)
    assert status == 200
    assert body == (Path(__file__).resolve().parents[1] / "static" / "engram" / "ade.js").read_bytes()
    assert health == 200


PRODUCTION_ENV = {
    # The production profile as the README sets it up (the database and Redis need not answer for the checks).
    "DATABASE_URL": "postgres://engram:secret@127.0.0.1:1/engram",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "SECRET_KEY": "x7Kp2vQ9mZ4tR8wL1nB6yH3jF5cD0sG-aE_uI.oP!kM@qW#eT$rY%zX^vC&bN*",
    "ALLOWED_HOSTS": "engram.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://engram.example.com",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def _manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # Not this test process's settings (the browser fixture sets DJANGO_ALLOW_ASYNC_UNSAFE, which --deploy flags).
    skip = ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    full_env = {k: v for k, v in os.environ.items() if k not in skip}
    full_env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "ENGRAM_DATA_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_in_the_production_profile(tmp_path: Path) -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_the_https_settings_come_from_the_environment_and_default_off(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER, s.SECURE_HSTS_PRELOAD)"
    )
    production = _manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV, tmp_path=tmp_path)
    assert production.stdout.split("\n")[0] == "31536000 True ('HTTP_X_FORWARDED_PROTO', 'https') True", production
    embedded = _manage("shell", "--no-imports", "-c", code, env={}, tmp_path=tmp_path)
    assert embedded.stdout.split("\n")[0] == "0 False None False", embedded
    other = _manage(
        "shell", "--no-imports", "-c", code, env={"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Ssl=on"}, tmp_path=tmp_path
    )
    assert "('HTTP_X_FORWARDED_SSL', 'on')" in other.stdout, other
    bad = _manage(
        "shell", "--no-imports", "-c", code, env={"SECURE_PROXY_SSL_HEADER": "X Forwarded: https"}, tmp_path=tmp_path
    )
    assert bad.returncode != 0 and "SECURE_PROXY_SSL_HEADER must be a header name" in bad.stderr, bad


@pytest.mark.django_db
def test_with_ssl_redirect_plain_http_is_redirected_but_health_probes_are_not(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = APIClient().get("/v1/agents/")
    assert response.status_code == 301 and response["Location"].startswith("https://")
    for path in ("/v1/health/", "/v1/ready", "/latest/health/"):
        assert APIClient().get(path).status_code == 200, path
    forwarded = APIClient().get("/v1/agents/", HTTP_X_FORWARDED_PROTO="https")
    assert forwarded.status_code == 401
