"""Test data made the way the product makes it: agents through `agent_create` (blocks, base tools and system
prompt as a real agent has them), conversations through `run_create` and the loop against the fake LLM.

Plain functions rather than factory_boy factories: a DjangoModelFactory would write rows with the ORM and skip
the services, which is exactly what these helpers exist to avoid."""

import datetime as dt
import uuid
from typing import Any

from agents.models import Agent, Message, Run
from agents.runtime.loop import run_execute
from agents.services.agents import agent_create
from agents.services.runs import run_create

MODEL = "openai/gpt-4o-mini"


def default_blocks() -> list[dict[str, Any]]:
    return [{"label": "human", "value": "", "limit": 200}, {"label": "persona", "value": "I am helpful."}]


def make_agent(actor: Any, **kwargs: Any) -> Agent:
    """An agent of `actor`'s organization; keyword arguments are `agent_create`'s."""
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("memory_blocks", default_blocks())
    return agent_create(actor=actor, **kwargs)


def send(actor: Any, agent: Agent, text: str, **kwargs: Any) -> Run:
    """Send one user message and execute its run here, synchronously; the caller scripts `fake_llm` first and
    keeps the executor "manual" (the `fake_llm` fixture does), so no background thread takes the run."""
    run = run_create(actor=actor, agent=agent, messages=[{"role": "user", "content": text}], **kwargs)
    run_execute(run_id=run.id, token="test")
    return Run.objects.get(pk=run.pk)


def unsaved_message(**fields: object) -> Message:
    """A Message row that is never saved, for the pure rules that read stored rows (wire shapes, reply text)."""
    defaults: dict[str, object] = {
        "id": uuid.uuid4(),
        "seq": 3,
        "role": "assistant",
        "content": [],
        "text": "",
        "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    }
    return Message(**{**defaults, **fields})
