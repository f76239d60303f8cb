"""PostgreSQL goes away under a running server, for real: a cluster of the test's own (never the session's
database), a daphne with production settings on it, `pg_ctl stop -m fast`, then `start` on the same data.

While the database is down the API answers 503 with Retry-After and a readable reason (not 500), the ADE shows a
page saying so; once it is back, the next request succeeds on the same daphne (the pool checks and replaces its
connections), and nothing accepted before the outage is lost. The test does not use the session's database, so
it is the same test on both test databases."""

import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from lib.dbpool import RETRY_AFTER_SECONDS
from tests.backing import PostgresCluster, free_port, stop_group

ROOT = Path(__file__).resolve().parent.parent.parent
MODEL = "openai/gpt-4o-mini"
EMBEDDING = "openai/text-embedding-3-small"  # answered by the fake LLM: no local model to load
SETUP = """
import json
from django.core.management import call_command
from accounts.models import Membership
from accounts.services import apikey_create, organization_create, user_create
call_command("migrate", verbosity=0)
org = organization_create(name="Outage")
user = user_create(username="ada", password="password-ada", organization=org, role=Membership.Role.OWNER)
print("KEY=" + apikey_create(user=user, name="outage").raw_key)
"""


@pytest.fixture
def cluster():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.remove()


def server_env(cluster, fake_llm, data_dir):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",  # production settings: the pool, no test overrides
        "DATABASE_URL": cluster.url(),
        "SECRET_KEY": "outage-test-only",
        "ENGRAM_DATA_DIR": str(data_dir),
        "OPENAI_API_BASE": fake_llm.base_url,
        "OPENAI_API_KEY": "sk-fake",
        "ENGRAM_DEFAULT_EMBEDDING": EMBEDDING,
        "ENGRAM_EMBED_MESSAGES": "0",
        "ENGRAM_RUN_EXECUTOR": "inprocess",
        "DB_POOL_TIMEOUT": "3",  # a request waits this long for a connection before its 503
        "LOG_LEVEL": "WARNING",
    }
    for name in ("ENGRAM_TEST_DB", "REDIS_URL", "ENGRAM_TEST_SERVE_TEST_DB"):
        env.pop(name, None)
    return env


def migrate_and_make_key(env):
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, capture_output=True, text=True
    )
    keys = [line.removeprefix("KEY=") for line in done.stdout.splitlines() if line.startswith("KEY=")]
    assert done.returncode == 0 and keys, done.stderr[-3000:]
    return keys[0]


def wait_healthy(url, proc, log):
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/v1/health/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("daphne did not start:\n" + log.read_text()[-3000:])


def sign_in(url):
    """An ADE session, as a browser gets one: the sign-in form with its CSRF token."""
    browser = httpx.Client(base_url=url, timeout=30)
    browser.get("/accounts/login/")
    token = browser.cookies["csrftoken"]
    response = browser.post(
        "/accounts/login/", data={"username": "ada", "password": "password-ada", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302, response.text[:500]
    return browser


def test_while_postgres_is_down_the_api_and_the_ade_answer_503_and_recover_without_a_restart(cluster, fake_llm):
    fake_llm.default = lambda body: f"echo: {body['messages'][-1]['content']}"
    data_dir = Path(tempfile.mkdtemp(prefix="engram-outage-"))
    env = server_env(cluster, fake_llm, data_dir)
    key = migrate_and_make_key(env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "daphne.log"
    with open(log, "wb") as out:
        daphne = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    try:
        wait_healthy(url, daphne, log)
        browser = sign_in(url)
        agent = api.post("/v1/agents/", json={"name": "tulips", "model": MODEL, "embedding": EMBEDDING})
        assert agent.status_code in (200, 201), agent.text
        agent_id = agent.json()["id"]
        sent = api.post(f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": "tulips"}]})
        assert sent.status_code == 200, sent.text
        assert browser.get("/").status_code == 200

        cluster.stop("fast")
        down_at = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(3) as pool:  # each waits DB_POOL_TIMEOUT for a connection
            read = pool.submit(api.get, f"/v1/agents/{agent_id}")
            send = pool.submit(
                api.post, f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": "lost?"}]}
            )
            page = pool.submit(browser.get, "/")
            read, send, page = read.result(), send.result(), page.result()
        answered_in = time.monotonic() - down_at
        for response in (read, send):
            assert response.status_code == 503, response.text[:500]
            assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
            assert "database is unavailable" in response.json()["detail"]
        assert page.status_code == 503, page.text[:500]
        assert page.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert "text/html" in page.headers["Content-Type"]
        assert "cannot reach its database" in page.text and "database is unavailable" in page.text
        assert answered_in < 30, f"the 503s took {answered_in:.1f} s"

        cluster.start()
        back_at = time.monotonic()
        first = api.get(f"/v1/agents/{agent_id}")  # the very next request: no retry, no daphne restart
        recovered_in = time.monotonic() - back_at
        assert first.status_code == 200, first.text[:500]
        assert browser.get("/").status_code == 200
        again = api.post(f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": "back"}]})
        assert again.status_code == 200, again.text[:500]
        history = api.get(f"/v1/agents/{agent_id}/messages", params={"limit": 50, "order": "asc"}).json()
    finally:
        api.close()
        stop_group(daphne, timeout=30)
    assert recovered_in < 15, f"the first request after the restart took {recovered_in:.1f} s"
    said = [m["content"] for m in history if m["message_type"] == "user_message"]
    replies = [m["content"] for m in history if m["message_type"] == "assistant_message"]
    # Accepted before the outage: kept. The send refused with a 503 stored nothing (no half-written state).
    assert said == ["tulips", "back"], json.dumps(history)[:2000]
    assert replies == ["echo: tulips", "echo: back"], json.dumps(history)[:2000]
