"""Usage per day, agent, model and user: the totals are the recorded steps' tokens and cost, tool calls and
embedding work are counted, and an organization only ever sees its own."""

import datetime as dt
from typing import Any

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from agents.models import Step
from agents.quotas import tokens_today
from agents.usage import usage_rows, usage_total, usage_totals
from memory.models import EmbeddingUsage
from memory.services.passages import passage_insert
from tests.factories import make_agent, send
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db


def today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def test_it_matches_the_steps_recorded_tokens_and_cost(alice: Any, bob: Any, fake_llm: FakeLLM) -> None:
    tea = make_agent(alice, name="tea")
    coffee = make_agent(bob, name="coffee", model="openai/gpt-4o")
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "likes tea"})
    fake_llm.reply("noted")
    send(alice, tea, "I like tea")
    fake_llm.reply("hello")
    send(bob, coffee, "hi")
    fake_llm.reply("again")
    send(alice, coffee, "hi again")

    rows = usage_rows(actor=alice, start=today() - dt.timedelta(days=6), end=today())
    recorded = Step.objects.filter(organization_id=tea.organization_id).aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"), cost=Sum("cost"), steps=Count("id")
    )
    total = usage_total(rows)
    assert total.prompt_tokens == recorded["prompt"] > 0
    assert total.completion_tokens == recorded["completion"] > 0
    assert total.cost == pytest.approx(recorded["cost"])
    assert total.cost > 0, "gpt-4o and gpt-4o-mini have prices in litellm's map"
    assert total.steps == recorded["steps"] == 4
    assert total.runs == 3
    assert total.tool_calls == 1
    assert tokens_today(organization_id=tea.organization_id) == total.total_tokens

    by_model = {t.key: t for t in usage_totals(rows, by="model")}
    assert set(by_model) == {"openai/gpt-4o-mini", "openai/gpt-4o"}
    gpt4o = Step.objects.filter(model="openai/gpt-4o").aggregate(cost=Sum("cost"), n=Count("id"))
    assert by_model["openai/gpt-4o"].cost == pytest.approx(gpt4o["cost"])
    assert by_model["openai/gpt-4o"].steps == gpt4o["n"] == 2
    by_user = {t.key: t for t in usage_totals(rows, by="user")}
    assert by_user["alice"].runs == 2 and by_user["bob"].runs == 1
    by_agent = {t.key: t for t in usage_totals(rows, by="agent")}
    assert by_agent["tea"].tool_calls == 1 and by_agent["coffee"].steps == 2
    [day] = usage_totals(rows, by="day")
    assert day.key == today().isoformat()


def test_it_leaves_out_days_outside_the_period(alice: Any, fake_llm: FakeLLM) -> None:
    agent = make_agent(alice, name="old")
    fake_llm.reply("then")
    send(alice, agent, "long ago")
    Step.objects.filter(agent=agent).update(created_at=timezone.now() - dt.timedelta(days=40))  # simulated age
    assert usage_rows(actor=alice, start=today() - dt.timedelta(days=29), end=today()) == []
    rows = usage_rows(actor=alice, start=today() - dt.timedelta(days=89), end=today())
    assert usage_total(rows).steps == 1


def test_it_counts_embedding_work(alice: Any, django_capture_on_commit_callbacks: Any) -> None:
    agent = make_agent(alice, name="archivist")
    with django_capture_on_commit_callbacks(execute=True):
        passage_insert(agent=agent, text="The lighthouse keeper's name is Ada.")
        passage_insert(agent=agent, text="Ada keeps the lamp lit.")
    usage = EmbeddingUsage.objects.get(agent_id=agent.id)
    assert (usage.calls, usage.texts) == (2, 2)
    [row] = usage_rows(actor=alice, start=today(), end=today())
    assert (row.embedding_calls, row.embedded_texts, row.agent) == (2, 2, "archivist")
    assert row.model.startswith("local/")


def test_an_outsider_sees_none_of_it(alice: Any, charlie: Any, fake_llm: FakeLLM) -> None:
    agent = make_agent(alice, name="private")
    fake_llm.reply("secret")
    send(alice, agent, "hi")
    assert usage_rows(actor=charlie, start=today() - dt.timedelta(days=6), end=today()) == []
    assert tokens_today(organization_id=charlie.membership.organization_id) == 0
