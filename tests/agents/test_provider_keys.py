"""The server's provider keys only go to endpoints the operator configured (lib/providers.py).

Two fake providers: `fake_llm` is the operator's (OPENAI_API_BASE), `stranger` is a URL someone else chose."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from agents.models import Agent, RunStatus
from agents.services.agents import agent_update
from memory.embeddings import embed_texts
from tests.fakes.llm_server import FakeLLM

pytestmark = pytest.mark.django_db


@pytest.fixture
def stranger() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def test_it_ignores_a_stored_api_base_the_operator_did_not_configure(
    fake_llm: FakeLLM, stranger: FakeLLM, make_agent: Any, send: Any
) -> None:
    agent = make_agent()
    # A row written before the rule (or by any path that skipped validation) still never routes the key away.
    Agent.objects.filter(pk=agent.pk).update(model_settings={"api_base": stranger.base_url})
    fake_llm.reply("hello from the operator's endpoint")
    stranger.reply("hello from elsewhere")
    run = send(Agent.objects.get(pk=agent.pk), "hi")
    assert run.status == RunStatus.COMPLETED, run.error
    assert stranger.requests == []
    assert len(fake_llm.chat_requests()) == 1


def test_a_listed_api_base_is_used_for_the_agent(
    fake_llm: FakeLLM, stranger: FakeLLM, make_agent: Any, send: Any, settings: Any
) -> None:
    settings.ENGRAM_ALLOWED_API_BASES = [stranger.base_url + "/"]  # a trailing slash is the same endpoint
    agent = make_agent(model_settings={"api_base": stranger.base_url})
    stranger.reply("hello from the second server")
    run = send(agent, "hi")
    assert run.status == RunStatus.COMPLETED, run.error
    assert len(stranger.chat_requests()) == 1 and fake_llm.requests == []


def test_the_services_refuse_an_api_base_the_operator_did_not_configure(
    fake_llm: FakeLLM, stranger: FakeLLM, make_agent: Any
) -> None:
    with pytest.raises(ValidationError) as create_error:
        make_agent(model_settings={"api_base": stranger.base_url})
    assert "ENGRAM_ALLOWED_API_BASES" in create_error.value.message_dict["model_settings.api_base"][0]
    agent = make_agent(model_settings={"temperature": 0.2})
    with pytest.raises(ValidationError) as update_error:
        agent_update(agent=agent, model_settings={"api_base": stranger.base_url})
    assert "model_settings.api_base" in update_error.value.message_dict
    assert Agent.objects.get(pk=agent.pk).model_settings == {"temperature": 0.2}
    # The operator's own endpoint may be named explicitly.
    agent_update(agent=agent, model_settings={"api_base": fake_llm.base_url})
    assert Agent.objects.get(pk=agent.pk).model_settings == {"api_base": fake_llm.base_url}


def test_embeddings_go_to_the_operators_endpoint(fake_llm: FakeLLM, stranger: FakeLLM) -> None:
    vectors = embed_texts("openai/text-embedding-3-small", ["a fact"])
    assert vectors.shape[0] == 1
    assert [r.path for r in fake_llm.requests] == ["/v1/embeddings"] and stranger.requests == []


def test_a_model_handle_may_not_name_an_address(
    fake_llm: FakeLLM, stranger: FakeLLM, make_agent: Any, send: Any
) -> None:
    """litellm calls a URL given as the model name for some providers (`oobabooga/http://…`, Hugging Face's
    embeddings), with that provider's key when the server has one."""
    handle = f"oobabooga/{stranger.url}"
    for field, kwargs in (
        ("model", {"model": handle}),
        ("embedding", {"embedding": handle}),
        ("compaction_settings.model", {"compaction_settings": {"model": handle}}),
    ):
        with pytest.raises(ValidationError) as error:
            make_agent(**kwargs)
        assert "not a URL" in error.value.message_dict[field][0]
    agent = make_agent()
    with pytest.raises(ValidationError) as error:
        send(agent, "hi", options={"override_model": handle})
    assert "override_model" in error.value.message_dict
    # A row written around the services is refused where the call is made.
    Agent.objects.filter(pk=agent.pk).update(model=handle)
    run = send(Agent.objects.get(pk=agent.pk), "hi")
    assert (run.status, run.error) == (RunStatus.FAILED, "the model handle names an address")
    assert stranger.requests == []
