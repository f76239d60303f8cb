"""`make run` on a machine without bubblewrap still starts, says that custom tools are disabled and how to fix it,
and a custom tool call then answers with that reason (ENGRAM_BWRAP names a binary that does not exist)."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.backing import free_port, stop_group

ROOT = Path(__file__).resolve().parent.parent


def request(url: str, *, body: dict | None = None, key: str = "") -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def make_run_without_bubblewrap(tmp_path: Path):
    assert subprocess.run(["make", "--version"], capture_output=True).returncode == 0, "this test needs make"
    venv = Path(sys.prefix)
    assert (venv / ".installed-run").exists(), f"this test runs `make run` with the installed {venv}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "ENGRAM_TOOL_SANDBOX")
    }
    env.update(
        ENGRAM_DATA_DIR=str(tmp_path / "var"),
        ENGRAM_BWRAP="/nonexistent/bwrap",
        ENGRAM_ADMIN_PASSWORD="make-run-password",
        ENGRAM_EMBED_MESSAGES="false",
    )
    port = free_port()
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        # -o: the venv is installed already; never reinstall it from this checkout.
        server = subprocess.Popen(
            ["make", "-o", f"{venv}/.installed-run", "run", f"VENV={venv}", "HOST=127.0.0.1", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"make run stopped:\n{log.read_text()}"
            try:
                request(f"{base}/v1/health/")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, f"make run did not serve within 120 s:\n{log.read_text()}"
                time.sleep(0.5)
        yield base, env, log, tmp_path / "var"
    finally:
        stop_group(server)


def test_make_run_without_bubblewrap_starts_and_refuses_custom_tools_saying_why(make_run_without_bubblewrap):
    base, env, log, data_dir = make_run_without_bubblewrap
    assert request(f"{base}/v1/health/")["tool_sandbox"] == "disabled"
    output = log.read_text()
    assert "ENGRAM_BWRAP=/nonexistent/bwrap does not exist. Custom tools are disabled" in output
    fix = (
        "bubblewrap (/nonexistent/bwrap) is not installed: install Debian's bubblewrap package (apt-get install "
        "bubblewrap), or set ENGRAM_TOOL_SANDBOX=process on a trusted single-user machine"
    )
    assert f"Custom tools are disabled: {fix}" in output  # the server's start-up log
    assert data_dir.stat().st_mode & 0o777 == 0o700  # the SQLite database and secret key: the server's only
    key = (
        subprocess.run(
            [sys.executable, "manage.py", "apikey", "create", "admin", "--name", "make-run-test"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    source = "def steal() -> str:\n    return open('/proc/1/environ').read()\n"
    answer = request(f"{base}/v1/tools/run", body={"source_code": source, "args": {}}, key=key)
    assert answer["status"] == "error"
    assert answer["tool_return"] == f"Error: custom tools are disabled: {fix}"
