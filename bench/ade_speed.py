"""ADE speed: server time of the agent page with 10,000 messages of history, and how long an event takes from
the database commit to the browser's DOM on loopback.

    python bench/ade_speed.py [--db postgres|sqlite] [--messages 10000] [--rounds 30]

1. Server time: Django's test client (in-process, no network) renders the agent page and each panel; the
   figure is the view's wall time, queries included.
2. Event → DOM: a real daphne serves the same database; Chromium has the agent page open (websocket live).
   A second page of the same session saves a new block value through the ADE. The block revision's
   created_at (written inside the committing transaction) is compared with the moment a MutationObserver sees
   the new value in the first page. Both clocks are this machine's.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._django import test_database  # noqa: E402
from bench.stack import serve  # noqa: E402

# Records when the new value first shows in the open page (Date.now() is epoch ms, like the database clock).
WATCH = """(marker) => {
    window.__seen = null;
    new MutationObserver((_, observer) => {
        const el = document.querySelector('.block[data-label=human] .block-value');
        if (el && el.textContent.includes(marker)) { window.__seen = Date.now(); observer.disconnect(); }
    }).observe(document.getElementById('panel'), {subtree: true, childList: true, characterData: true});
}"""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   max {ordered[-1]:7.1f} ms"


def seed(messages: int) -> tuple[Any, Any]:
    from accounts.services import organization_create, user_create
    from agents.services.agents import agent_create
    from agents.services.messages import MessageSpec, message_create_many

    org = organization_create(name="Bench")
    user = user_create(username="bench", password="bench-password", organization=org, role="owner")
    agent = agent_create(
        actor=user,
        name="Bench agent",
        model="openai/gpt-4o-mini",
        memory_blocks=[{"label": "human", "value": "start"}, {"label": "persona", "value": "A benchmark."}],
    )
    batch = 1_000
    for start in range(0, messages, batch):
        specs = [
            MessageSpec(role="user" if i % 2 == 0 else "assistant", text=f"message {i} " + "lorem ipsum " * 8)
            for i in range(start, min(messages, start + batch))
        ]
        message_create_many(agent=agent, specs=specs)
    return user, agent


def server_time(user: Any, agent: Any, rounds: int) -> None:
    from django.test import Client

    client = Client()
    client.force_login(user)
    urls = {
        "agent page (chat + memory)": f"/agents/{agent.id}/",
        "chat tail, 40 msgs (htmx)": f"/agents/{agent.id}/messages/?since={agent.messages.count() - 39}",
        "chat tail, 500 cap (htmx)": f"/agents/{agent.id}/messages/?since=0",
        "older page (htmx)": f"/agents/{agent.id}/messages/?before=5000",
        "runs panel": f"/agents/{agent.id}/runs/",
        "archival panel": f"/agents/{agent.id}/archival/",
        "agent list": "/",
    }
    print(f"Server time over {rounds} requests each (in-process, no network):")
    for name, url in urls.items():
        client.get(url)  # warm caches and connections
        samples = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            response = client.get(url, HTTP_HX_REQUEST="true" if "htmx" in name else "")
            samples.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        print(f"  {name:30s} {percentiles(samples)}")


def event_to_dom(agent: Any, rounds: int) -> None:
    from playwright.sync_api import sync_playwright

    from memory.models import BlockRevision

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "ENGRAM_TEST_SERVE_TEST_DB": "1"}
    with serve(env) as url:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        block = agent.blocks.get(label="human")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context()
            watcher = context.new_page()
            watcher.goto(f"{url}/accounts/login/")
            watcher.fill("input[name=username]", "bench")
            watcher.fill("input[name=password]", "bench-password")
            watcher.click("button[type=submit]")
            watcher.wait_for_url(f"{url}/")
            watcher.goto(f"{url}/agents/{agent.id}/")
            watcher.wait_for_selector("#live[data-state=live]")
            writer = context.new_page()
            writer.goto(f"{url}/agents/{agent.id}/settings/")
            samples = []
            for i in range(rounds):
                marker = f"bench-{i}-{time.time_ns()}"
                watcher.evaluate(WATCH, marker)
                writer.evaluate(
                    """([path, value]) => fetch(path, {method: 'POST', headers: {
                        'X-CSRFToken': document.cookie.match(/csrftoken=([^;]+)/)[1],
                        'Content-Type': 'application/x-www-form-urlencoded'},
                        body: new URLSearchParams({value, limit: "20000"})})""",
                    [f"/agents/{agent.id}/blocks/{block.id}/", marker],
                )
                watcher.wait_for_function("window.__seen !== null", timeout=10_000)
                seen_ms = watcher.evaluate("window.__seen")
                revision = BlockRevision.objects.filter(block=block, after=marker).get()
                samples.append(seen_ms - revision.created_at.timestamp() * 1000)
            browser.close()
        print(f"Event → DOM over {rounds} block edits (revision commit → new value in the open page):")
        print(f"  {'agent.block → re-fetch → swap':30s} {percentiles(samples)}")
    time.sleep(1)  # let PostgreSQL notice the server's sessions are gone before the database is dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with test_database(args.db):
        t0 = time.perf_counter()
        user, agent = seed(args.messages)
        print(f"Seeded {args.messages} messages on {args.db} in {time.perf_counter() - t0:.1f} s")
        server_time(user, agent, args.rounds)
        event_to_dom(agent, args.rounds)


if __name__ == "__main__":
    main()
