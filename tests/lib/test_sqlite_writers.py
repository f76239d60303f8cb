"""The embedded profile (`make run`'s settings: SQLite, the in-process executor, one daphne) under many writers at
once: every request is answered without a 5xx and every message is stored (lib.sqlite queues the process's
writers); and when a write still cannot get the database in time (another process holds SQLite's lock past the
timeout), the API and the ADE answer 503 with Retry-After and the reason, and nothing is half-written.

These tests start their own server on a SQLite file of their own, whatever ENGRAM_TEST_DB says."""

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lib.sqlite.base import WriteTurn
from tests.backing import free_port, stop_group
from tests.fakes.llm_server import FakeLLM, Reply

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "embedded-load-password"  # noqa: S105 (a throwaway test user's)
CLIENTS = 80
SENDS = 2


@dataclass(frozen=True)
class Embedded:
    url: str
    data_dir: Path
    api_key: str
    username: str
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-60:])


def _env(data_dir: Path, llm: FakeLLM, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "ENGRAM_TEST_SERVE_TEST_DB")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY="embedded-load-test-only",
        ENGRAM_DATA_DIR=str(data_dir),
        OPENAI_API_BASE=llm.base_url,
        OPENAI_API_KEY="sk-fake",
        ENGRAM_DEFAULT_EMBEDDING="openai/text-embedding-3-small",  # answered by the fake: no local model
        ENGRAM_EMBED_MESSAGES="false",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        fake.default = Reply(text="ok", delay=0.2)
        yield fake


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLM) -> tuple[Path, str]:
    """A data directory with the schema and one organization, its owner (with a password) and an API key: each
    test's server starts from a copy."""
    data_dir = tmp_path_factory.mktemp("embedded-template")
    env = _env(data_dir, llm)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    script = (
        "from accounts.models import Membership\n"
        "from accounts.services import apikey_create, organization_create, user_create\n"
        "org = organization_create(name='embedded')\n"
        f"user = user_create(username='ada', password={PASSWORD!r}, organization=org, role=Membership.Role.OWNER)\n"
        "print('KEY=' + apikey_create(user=user, name='load').raw_key)\n"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    keys = [line.removeprefix("KEY=") for line in done.stdout.splitlines() if line.startswith("KEY=")]
    assert done.returncode == 0 and keys, done.stderr
    return data_dir, keys[0]


def _serve(migrated: tuple[Path, str], llm: FakeLLM, tmp_path: Path, **extra: str) -> Iterator[Embedded]:
    data_dir = tmp_path / "data"
    shutil.copytree(migrated[0], data_dir)
    port = free_port()
    log = tmp_path / "daphne.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT,
            env=_env(data_dir, llm, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Embedded(f"http://127.0.0.1:{port}", data_dir, migrated[1], "ada", log)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"daphne stopped:\n{server.tail()}"
            try:
                if httpx.get(f"{server.url}/v1/health/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"daphne did not serve within 90 s:\n{server.tail()}"
            time.sleep(0.1)
        yield server
    finally:
        stop_group(proc)


@pytest.fixture
def embedded(migrated: tuple[Path, str], llm: FakeLLM, tmp_path: Path) -> Iterator[Embedded]:
    # Every client's runs at once: the organization cap would otherwise queue them (fairness, not what is tested).
    yield from _serve(migrated, llm, tmp_path, ENGRAM_ORG_MAX_ACTIVE_RUNS="100", ENGRAM_INPROCESS_WORKERS="16")


@pytest.fixture
def embedded_short_timeout(migrated: tuple[Path, str], llm: FakeLLM, tmp_path: Path) -> Iterator[Embedded]:
    yield from _serve(migrated, llm, tmp_path, ENGRAM_SQLITE_TIMEOUT="1")


def test_it_answers_every_request_of_many_concurrent_clients_and_stores_every_message(embedded: Embedded) -> None:
    answers: list[tuple[str, int, str]] = []
    answers_lock = threading.Lock()

    def note(what: str, response: httpx.Response) -> None:
        with answers_lock:
            answers.append((what, response.status_code, response.text[:300]))

    def client(index: int) -> str | None:
        with httpx.Client(base_url=embedded.url, headers=embedded.headers, timeout=180) as http:
            body = {
                "name": f"load-{index}",
                "model": "openai/gpt-4o-mini",
                "embedding": "openai/text-embedding-3-small",
            }
            created = http.post("/v1/agents/", json=body)
            note("create", created)
            if created.status_code != 200:
                return None
            agent_id = created.json()["id"]
            for n in range(SENDS):
                message = {"messages": [{"role": "user", "content": f"client {index} message {n}"}]}
                note("send", http.post(f"/v1/agents/{agent_id}/messages", json=message))
            return str(agent_id)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        agent_ids = list(pool.map(client, range(CLIENTS)))

    failed = [a for a in answers if a[1] != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed, e.g. {failed[:3]}\n{embedded.tail()}"
    assert len(answers) == CLIENTS * (1 + SENDS)
    with httpx.Client(base_url=embedded.url, headers=embedded.headers, timeout=60) as http:
        for index, agent_id in enumerate(agent_ids):
            listed = http.get(f"/v1/agents/{agent_id}/messages", params={"limit": 100, "order": "asc"}).json()
            sent = [m["content"] for m in listed if m["message_type"] == "user_message"]
            replies = [m for m in listed if m["message_type"] == "assistant_message"]
            assert sent == [f"client {index} message {n}" for n in range(SENDS)], listed
            assert len(replies) == SENDS, listed
            runs = http.get("/v1/runs/", params={"agent_id": agent_id}).json()
            assert sorted(r["status"] for r in runs) == ["completed"] * SENDS, runs


def _count(data_dir: Path, table: str) -> int:
    with sqlite3.connect(data_dir / "engram.sqlite3") as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608 (fixed names)


def _sign_in(http: httpx.Client, username: str) -> str:
    page = http.get("/accounts/login/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None, page
    answer = http.post(
        "/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
    )
    assert answer.status_code == 302, answer.text
    return http.cookies["csrftoken"]


def test_it_answers_503_with_retry_after_when_the_database_stays_locked(embedded_short_timeout: Embedded) -> None:
    server = embedded_short_timeout
    browser = httpx.Client(base_url=server.url, timeout=60)
    csrf = _sign_in(browser, server.username)
    agents_before = _count(server.data_dir, "agents_agent")
    # Another process holds SQLite's write lock past the server's 1 s timeout (a long write of a management command).
    holder = sqlite3.connect(server.data_dir / "engram.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        api = httpx.post(f"{server.url}/v1/agents/", json={"name": "locked-out"}, headers=server.headers, timeout=60)
        assert api.status_code == 503, api.text
        assert int(api.headers["Retry-After"]) > 0  # the SDKs wait that long and send again
        assert "database" in api.json()["detail"].lower()  # the reason, in words
        ade = browser.post(
            "/agents/new/",
            data={"name": "locked-out-too", "preset": "assistant"},
            headers={"X-CSRFToken": csrf, "HX-Request": "true"},
        )
        assert ade.status_code == 503, ade.text
        assert int(ade.headers["Retry-After"]) > 0
        assert "database" in ade.text.lower()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _count(server.data_dir, "agents_agent") == agents_before  # nothing half-written
    again = httpx.post(f"{server.url}/v1/agents/", json={"name": "let-in"}, headers=server.headers, timeout=60)
    assert again.status_code == 200, again.text
    assert _count(server.data_dir, "agents_agent") == agents_before + 1


def test_write_turns_go_in_arrival_order_and_a_wait_past_the_timeout_gives_up() -> None:
    turn = WriteTurn()
    assert turn.acquire(timeout=1)
    order: list[int] = []
    started: list[threading.Event] = []
    threads = []
    for index in range(5):
        ready = threading.Event()
        started.append(ready)

        def wait_turn(index: int = index, ready: threading.Event = ready) -> None:
            ready.set()
            assert turn.acquire(timeout=30)
            order.append(index)
            turn.release()

        thread = threading.Thread(target=wait_turn)
        thread.start()
        threads.append(thread)
        ready.wait(5)
        time.sleep(0.1)  # queued before the next one arrives
    began = time.monotonic()
    assert not turn.acquire(timeout=0.2)  # behind the holder and five waiters: gives up
    assert 0.15 < time.monotonic() - began < 5
    turn.release()
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4]
    assert turn.acquire(timeout=0.1)  # free again
