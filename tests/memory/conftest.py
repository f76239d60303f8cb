"""Fixtures for memory tests: passages inserted with their embeddings (`agent_a` lives in tests/conftest.py, as
the recall tests under tests/agents/runtime use it too)."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from agents.models import Agent
from memory.models import Passage
from memory.services.passages import PassageInput, passage_insert_many
from tests.fakes.llm_server import FakeLLM

BASE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def insert(django_capture_on_commit_callbacks: Any, settings: Any) -> Callable[..., list[Passage]]:
    """Insert passages and run the after-commit embedding inline, as the embedded profile does for small batches
    (a background thread could not see the test's uncommitted rows)."""
    settings.ENGRAM_EMBED_INLINE_MAX = 100_000

    def run(agent: Agent, items: list[PassageInput | str]) -> list[Passage]:
        inputs = [PassageInput(text=i) if isinstance(i, str) else i for i in items]
        with django_capture_on_commit_callbacks(execute=True):
            return passage_insert_many(agent=agent, items=inputs)

    return run


def embedding_requests(fake: FakeLLM) -> list[dict[str, Any]]:
    """What the fake LLM was asked to embed: `openai/*` embedding models get an 8-dim hashed bag of words."""
    return [r.body for r in fake.requests if r.path.rstrip("/").endswith("/embeddings") and r.body]
