"""The ADE Usage page and its CSV export: the organization's numbers, plotted, and nobody else's."""

import csv
import io
from typing import Any

import pytest
from django.db.models import Sum
from django.test import Client

from agents.models import Step
from tests.factories import make_agent, send
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db


@pytest.fixture
def used(alice: Any, fake_llm: FakeLLM) -> Any:
    agent = make_agent(alice, name="Ada-usage")
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "likes tea"})
    fake_llm.reply("noted")
    send(alice, agent, "I like tea")
    return agent


def test_it_shows_the_totals_and_plots(client: Client, alice: Any, used: Any) -> None:
    client.force_login(alice)
    response = client.get("/usage/?days=7&by=agent")
    assert response.status_code == 200
    html = response.content.decode()
    tokens = Step.objects.filter(agent=used).aggregate(t=Sum("prompt_tokens") + Sum("completion_tokens"))["t"]
    assert f'<strong id="usage-tokens">{tokens}</strong>' in html
    assert '<svg class="chart"' in html and "Tokens per day by agent" in html
    assert "Ada-usage" in html
    assert 'href="/usage/"' in html and 'aria-current="page">Usage' in html


def test_the_csv_has_one_row_per_day_agent_model_and_user(client: Client, alice: Any, used: Any) -> None:
    client.force_login(alice)
    response = client.get("/usage.csv?days=30")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    steps = Step.objects.filter(agent=used)
    recorded = steps.aggregate(p=Sum("prompt_tokens"), c=Sum("completion_tokens"), cost=Sum("cost"))
    assert row["agent"] == "Ada-usage" and row["user"] == "alice" and row["model"] == "openai/gpt-4o-mini"
    assert row["agent_id"].startswith("agent-")
    assert int(row["prompt_tokens"]) == recorded["p"]
    assert int(row["completion_tokens"]) == recorded["c"]
    assert float(row["cost_usd"]) == pytest.approx(recorded["cost"], abs=1e-8)
    assert (row["runs"], row["steps"], row["tool_calls"]) == ("1", "2", "1")


def test_a_teammate_sees_the_organization_usage(client: Client, bob: Any, used: Any) -> None:
    client.force_login(bob)
    assert "Ada-usage" in client.get("/usage/?by=agent").content.decode()


def test_an_outsider_sees_none_of_it(client: Client, charlie: Any, used: Any) -> None:
    client.force_login(charlie)
    page = client.get("/usage/?by=agent").content.decode()
    assert "Ada-usage" not in page
    assert '<strong id="usage-tokens">0</strong>' in page
    rows = list(csv.reader(io.StringIO(client.get("/usage.csv").content.decode())))
    assert len(rows) == 1, "the header only"


def test_bad_parameters_are_a_400_naming_them(client: Client, alice: Any) -> None:
    client.force_login(alice)
    response = client.get("/usage/?days=0")
    assert response.status_code == 400 and b"days" in response.content
    assert client.get("/usage/?by=planet").status_code == 400
    assert client.get("/usage.csv?days=abc").status_code == 400


def test_it_needs_a_sign_in(client: Client) -> None:
    assert client.get("/usage/").status_code == 302
    assert client.get("/usage.csv").status_code == 302


def test_it_shows_the_quotas_in_force(client: Client, alice: Any, used: Any, settings: Any) -> None:
    settings.ENGRAM_QUOTA_TOKENS_PER_DAY = 1_000_000
    client.force_login(alice)
    tokens = Step.objects.filter(agent=used).aggregate(t=Sum("prompt_tokens") + Sum("completion_tokens"))["t"]
    html = client.get("/usage/?days=7").content.decode()
    assert f"{tokens} of 1000000 LLM tokens used today" in html
    settings.ENGRAM_QUOTA_TOKENS_PER_DAY = 0
    assert "usage-quotas" not in client.get("/usage/?days=7").content.decode()


def test_a_quota_refusal_is_shown_on_the_ade_forms(client: Client, alice: Any, used: Any, settings: Any) -> None:
    client.force_login(alice)
    settings.ENGRAM_QUOTA_AGENTS = 1
    response = client.post("/agents/new/", {"name": "Second", "preset": "blank", "model": ""})
    assert response.status_code == 422
    assert "quota of 1 agents" in response.content.decode()
    settings.ENGRAM_QUOTA_TOKENS_PER_DAY = 1
    sent = client.post(f"/agents/{used.id}/messages/", {"text": "more"}, HTTP_HX_REQUEST="true")
    assert "LLM tokens for today" in sent.content.decode()
    assert used.runs.count() == 1
