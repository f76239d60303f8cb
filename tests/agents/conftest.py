from typing import Any

import pytest

from agents.loop import run_execute
from agents.models import Run
from agents.services.agents import agent_create
from agents.services.runs import run_create


@pytest.fixture
def make_agent(alice: Any) -> Any:
    def make(**kwargs: Any) -> Any:
        kwargs.setdefault("model", "openai/gpt-4o-mini")
        kwargs.setdefault(
            "memory_blocks",
            [{"label": "human", "value": "", "limit": 200}, {"label": "persona", "value": "I am helpful."}],
        )
        return agent_create(actor=alice, **kwargs)

    return make


@pytest.fixture
def send(alice: Any) -> Any:
    """Send one user message and execute the run here, synchronously (the executor is "manual")."""

    def do(agent: Any, text: str, **kwargs: Any) -> Run:
        run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": text}], **kwargs)
        run_execute(run_id=run.id, token="test")
        return Run.objects.get(pk=run.pk)

    return do
