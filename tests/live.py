"""Fixtures for end-to-end tests: a real daphne server (HTTP + websockets) in a subprocess on the test
database, the scripted fake LLM it talks to, and Chromium driven by Playwright."""

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.backing import free_port
from tests.fakes.llm_server import FakeLLM

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class LiveServer:
    url: str
    log: Path

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def daphne_server_process(
    django_db_setup: None, fake_llm_server: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    port = free_port()
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "ENGRAM_TEST_SERVE_TEST_DB": "1",
        "OPENAI_API_BASE": fake_llm_server.base_url,
        "OPENAI_API_KEY": "sk-fake",
        # This server outlives the tests that use it, on the database every later test writes. Its in-process
        # pool's periodic sweep would dispatch those tests' queued runs with this process's settings (its own
        # ENGRAM_ORG_MAX_ACTIVE_RUNS, the in-process executor) and run them here: a second org cap beside a Celery
        # test's worker, runs of a "manual" test executed. So it never sweeps; it runs what its requests send it.
        "ENGRAM_DISPATCH_SWEEP_SECONDS": str(10**9),
        "ENGRAM_RUN_REAP_SECONDS": str(10**9),  # nor reaps: a "manual" test's claimed run renews no lease
        # Tool calls held for approval expire this soon, so the SDK scenarios see an expiry (tests/api/sdk_scenario.py).
        "ENGRAM_APPROVAL_TTL": "12",
    }
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", log=log)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/v1/health/", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"daphne did not start:\n{server.log_tail()}")
        time.sleep(0.05)
    yield server
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def daphne_server(daphne_server_process: LiveServer, transactional_db: None) -> LiveServer:
    """A real daphne serving the test database; data a test writes is committed so the server sees it."""
    return daphne_server_process


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `sudo apt-get install -y chromium` (make test does this as root)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM would refuse to run beside it.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def settled(page: Any) -> None:
    """Wait until htmx has swapped and settled what it received (new elements get their triggers only then: a test
    that types into a just-swapped field before that would type past its listener)."""
    busy = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"
    page.wait_for_function(f"() => !document.querySelector('{busy}')")


def screenshot(page: Any, name: str) -> Path:
    """Write a screenshot for reviewers to test-artifacts/screenshots/ (ignored by git)."""
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, server: LiveServer, username: str, password: str) -> None:
    page.goto(f"{server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
