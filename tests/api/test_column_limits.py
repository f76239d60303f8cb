"""Values beyond what a column holds are a 422 naming the field, never a database error (PostgreSQL enforces
lengths and integer ranges; SQLite does not, and must answer the same)."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Agent
from memory.models import Block

pytestmark = pytest.mark.django_db

LONG = "x" * 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "openai/" + LONG}, "model"),
        ({"embedding": "local/" + LONG}, "embedding"),
        ({"tags": [LONG]}, "tags"),
        ({"memory_blocks": [{"label": "human", "value": "", "limit": 2**40}]}, "memory_blocks"),
    ],
)
def test_oversize_agent_fields_are_422(alice_api: APIClient, body: dict[str, Any], field: str) -> None:
    response = alice_api.post("/v1/agents/", body, format="json")
    assert response.status_code == 422, response.content
    assert field in response.json()["detail"]
    assert not Agent.objects.exists() and not Block.objects.exists()


def test_oversize_updates_are_422_and_change_nothing(alice_api: APIClient) -> None:
    agent = alice_api.post("/v1/agents/", {"model": "openai/gpt-4o-mini"}, format="json").json()
    for body, field in [({"model": "openai/" + LONG}, "model"), ({"embedding": LONG}, "embedding")]:
        response = alice_api.patch(f"/v1/agents/{agent['id']}", body, format="json")
        assert response.status_code == 422 and field in response.json()["detail"]
    assert alice_api.get(f"/v1/agents/{agent['id']}").json()["model"] == "openai/gpt-4o-mini"


def test_a_block_limit_beyond_the_columns_range_is_422(alice_api: APIClient) -> None:
    response = alice_api.post("/v1/blocks/", {"label": "x", "value": "v", "limit": 2**40}, format="json")
    assert response.status_code == 422 and "limit" in response.json()["detail"]
    block = alice_api.post("/v1/blocks/", {"label": "x", "value": "v", "limit": 2**31 - 1}, format="json").json()
    response = alice_api.patch(f"/v1/blocks/{block['id']}", {"limit": 2**31}, format="json")
    assert response.status_code == 422 and "limit" in response.json()["detail"]
    assert Block.objects.get().limit == 2**31 - 1
