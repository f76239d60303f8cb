"""Rate limits per API key and per organization, and the quotas on agents and daily tokens: 429 + Retry-After."""

from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.core.cache import cache
from rest_framework.test import APIClient

from lib.ids import public_id
from tests.backing import ensure_redis
from tests.factories import make_agent, send
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters() -> None:
    cache.clear()


def test_it_refuses_a_key_over_its_limit_with_retry_after(
    alice: Any, api_client_for: Callable[[Any], APIClient], settings: Any
) -> None:
    settings.ENGRAM_RATE_LIMIT_KEY = (2, 60)
    key_one, key_two = api_client_for(alice), api_client_for(alice)
    assert key_one.get("/v1/agents/").status_code == 200
    assert key_one.get("/v1/agents/").status_code == 200
    refused = key_one.get("/v1/agents/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "ENGRAM_RATE_LIMIT_KEY" in refused.json()["detail"]
    assert "2 requests per minute" in refused.json()["detail"]
    # The limit is per key: Alice's other key still gets through.
    assert key_two.get("/v1/agents/").status_code == 200


def test_it_counts_an_organization_together(
    alice_api: APIClient, bob_api: APIClient, charlie_api: APIClient, settings: Any
) -> None:
    settings.ENGRAM_RATE_LIMIT_ORG = (3, 3600)
    assert alice_api.get("/v1/agents/").status_code == 200
    assert bob_api.get("/v1/agents/").status_code == 200
    assert alice_api.get("/v1/tools/").status_code == 200
    refused = bob_api.get("/v1/agents/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert "this organization" in refused.json()["detail"]
    # Another organization has its own count.
    assert charlie_api.get("/v1/agents/").status_code == 200


def test_health_is_never_limited(alice_api: APIClient, settings: Any) -> None:
    settings.ENGRAM_RATE_LIMIT_KEY = (1, 60)
    for _ in range(3):
        assert APIClient().get("/v1/health/").status_code == 200


def test_it_counts_in_redis_when_configured(alice_api: APIClient, settings: Any) -> None:
    url = ensure_redis()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": "t-rl"}
    }
    cache.clear()
    settings.ENGRAM_RATE_LIMIT_KEY = (1, 60)
    assert alice_api.get("/v1/agents/").status_code == 200
    # The counter is in Redis, where every server process would see it.
    keys = redis.Redis.from_url(url).keys("t-rl:*ratelimit:key:*")
    assert len(keys) == 1
    assert alice_api.get("/v1/agents/").status_code == 429
    cache.clear()


def test_the_agent_quota_refuses_one_more_agent(
    alice: Any, alice_api: APIClient, charlie_api: APIClient, settings: Any
) -> None:
    settings.ENGRAM_QUOTA_AGENTS = 1
    make_agent(alice, name="first")
    refused = alice_api.post("/v1/agents/", {"name": "second", "model": "openai/gpt-4o-mini"}, format="json")
    assert refused.status_code == 429
    assert "quota of 1 agents" in refused.json()["detail"]
    assert alice_api.get("/v1/agents/").json()[0]["name"] == "first"
    assert len(alice_api.get("/v1/agents/").json()) == 1
    created = charlie_api.post("/v1/agents/", {"name": "other", "model": "openai/gpt-4o-mini"}, format="json")
    assert created.status_code in (200, 201)


def test_the_token_quota_refuses_runs_until_midnight(
    alice: Any, alice_api: APIClient, charlie: Any, fake_llm: FakeLLM, settings: Any
) -> None:
    agent = make_agent(alice, name="chatty")
    fake_llm.reply("hello there")
    run = send(alice, agent, "hi")
    assert run.total_tokens > 0
    settings.ENGRAM_QUOTA_TOKENS_PER_DAY = run.total_tokens
    body = {"messages": [{"role": "user", "content": "again"}]}
    refused = alice_api.post(f"/v1/agents/{public_id('agent', agent.id)}/messages/async", body, format="json")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 86400
    assert f"used {run.total_tokens} of its {run.total_tokens} LLM tokens" in refused.json()["detail"]
    assert agent.runs.count() == 1, "nothing is written for a refused run"
    # Another organization's usage is its own.
    other = make_agent(charlie, name="quiet")
    fake_llm.reply("fine")
    assert send(charlie, other, "hi").status == "completed"
