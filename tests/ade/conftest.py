from typing import Any

import pytest
from django.test import Client

from agents.models import Agent
from agents.services.agents import agent_create


@pytest.fixture(autouse=True)
def _manual_runs(settings: Any) -> None:
    # Unit tests drive runs themselves; nothing may call a model from here.
    settings.ENGRAM_RUN_EXECUTOR = "manual"


@pytest.fixture
def agent(alice: Any) -> Agent:
    return agent_create(
        actor=alice,
        name="Ada",
        model="openai/gpt-4o-mini",
        memory_blocks=[
            {"label": "human", "value": "Name: Alice", "limit": 200},
            {"label": "persona", "value": "Kind."},
        ],
        tags=["support"],
    )


@pytest.fixture
def alice_client(client: Client, alice: Any) -> Client:
    """The ADE signed in as alice (org A)."""
    client.force_login(alice)
    return client


@pytest.fixture
def charlie_client(charlie: Any) -> Client:
    """The ADE signed in as charlie (org B), beside alice's client."""
    other = Client()
    other.force_login(charlie)
    return other
