from typing import Any

import pytest

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
