"""The provider/model catalogue has one home, lib.catalogue: /v1/models, /v1/models/embedding and an agent's
llm_config/embedding_config describe a model the same way."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from lib import catalogue

pytestmark = pytest.mark.django_db


def test_the_catalogue_splits_handles_and_names_providers_as_letta_does() -> None:
    assert catalogue.split_handle("anthropic/claude-haiku-4-5") == ("anthropic", "claude-haiku-4-5")
    assert catalogue.split_handle("gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert catalogue.endpoint_type("gemini") == "google_ai"
    assert catalogue.endpoint_type("someone_new") == "openai"
    assert catalogue.embedding_endpoint_type("local") == "hugging-face"
    assert catalogue.embedding_dim("openai/text-embedding-3-large") == 3072
    assert set(catalogue.CONFIGURED_BY) == set(catalogue.CHAT_MODELS)


def test_listed_models_match_the_agents_using_them(alice_api: APIClient, settings: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    listed = {m["handle"]: m for m in alice_api.get("/v1/models/").json()}
    for handle, window in catalogue.CHAT_MODELS["anthropic"].items():
        assert listed[f"anthropic/{handle}"]["context_window"] == window
    for handle in ("anthropic/claude-haiku-4-5", settings.ENGRAM_DEFAULT_MODEL):
        created = alice_api.post("/v1/agents", {"name": "m", "model": handle}, format="json").json()["llm_config"]
        model = listed[handle]
        assert (model["model"], model["provider_name"], model["model_endpoint_type"]) == (
            created["model"],
            created["provider_name"],
            created["model_endpoint_type"],
        )
    embedding = {m["handle"]: m for m in alice_api.get("/v1/models/embedding").json()}
    local = embedding[catalogue.LOCAL_EMBEDDING]
    assert (local["embedding_dim"], local["provider_type"], local["embedding_endpoint_type"]) == (
        384,
        "hugging-face",
        "hugging-face",
    )
    static = embedding[catalogue.LOCAL_STATIC_EMBEDDING]  # the opt-in static model, listed beside it
    assert (static["embedding_dim"], static["embedding_model"], static["embedding_endpoint_type"]) == (
        256,
        "wordllama-l2-256",
        "hugging-face",
    )
    # As the Python SDK reads the list (its pydantic type checks every field's type and literal).
    from letta_client.types import EmbeddingModel

    assert [EmbeddingModel.model_validate(m).handle for m in embedding.values()] == list(embedding)


def test_a_bare_default_model_is_listed_as_openais(alice_api: APIClient, settings: Any) -> None:
    # Agents read a bare handle as OpenAI's; /v1/models listed it as a provider named after the model.
    settings.ENGRAM_DEFAULT_MODEL = "gpt-4o-mini-custom"
    listed = {m["handle"]: m for m in alice_api.get("/v1/models/").json()}["gpt-4o-mini-custom"]
    assert (listed["model"], listed["provider_name"], listed["context_window"]) == (
        "gpt-4o-mini-custom",
        "openai",
        catalogue.DEFAULT_CONTEXT_WINDOW,
    )
