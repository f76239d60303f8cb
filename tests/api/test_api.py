"""Wire rules of /v1 that do not need a live server: errors, limits, slashes, paging, schema."""

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Message, Run, Step
from lib.ids import parse_id
from tests.api.conftest import agent_of

pytestmark = pytest.mark.django_db


def test_it_needs_an_api_key() -> None:
    response = APIClient().get("/v1/agents/")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_health_is_public_in_both_slash_forms() -> None:
    for url in ("/v1/health/", "/v1/health", "/latest/health/"):
        assert APIClient().get(url).json()["status"] == "ok"


def test_collection_posts_work_with_and_without_the_slash(alice_api: APIClient) -> None:
    for url in ("/v1/agents/", "/v1/agents"):
        response = alice_api.post(url, {"model": "openai/gpt-4o-mini"}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["id"].startswith("agent-")


def test_create_agent_returns_agent_state(alice_api: APIClient) -> None:
    body = {
        "name": "ada",
        "agent_type": "memgpt_v2_agent",
        "model": "openai/gpt-4o-mini",
        "memory_blocks": [{"label": "human", "value": "Name: Ada"}, {"label": "persona", "value": "Helpful"}],
        "tags": ["b", "a"],
        "metadata": {"k": 1},
    }
    state = alice_api.post("/v1/agents/", body, format="json").json()
    assert state["agent_type"] == "memgpt_v2_agent"
    assert state["tags"] == ["a", "b"]
    assert [b["label"] for b in state["blocks"]] == ["human", "persona"]
    assert state["blocks"][0]["description"]  # the default description of `human`
    assert state["memory"]["blocks"] == state["blocks"]
    assert "send_message" in {t["name"] for t in state["tools"]}
    assert state["llm_config"]["model"] == "gpt-4o-mini" and state["llm_config"]["model_endpoint_type"] == "openai"


def test_validation_errors_are_422_with_a_detail_string(alice_api: APIClient) -> None:
    response = alice_api.post("/v1/agents/", {"model": "no-provider", "tags": "x"}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("tags: ")
    response = alice_api.post("/v1/agents/", {"model": "no-provider"}, format="json")
    assert response.status_code == 422 and "model: " in response.json()["detail"]


def test_a_value_over_the_block_limit_is_a_4xx(alice_api: APIClient) -> None:
    block = alice_api.post("/v1/blocks/", {"label": "notes", "value": "", "limit": 10}, format="json").json()
    response = alice_api.patch(f"/v1/blocks/{block['id']}", {"value": "x" * 11}, format="json")
    assert response.status_code == 422
    assert "Exceeds 10 character limit" in response.json()["detail"]


def test_an_oversize_body_is_413_not_500(alice_api: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = alice_api.post(
        "/v1/blocks/", json.dumps({"label": "big", "value": "x" * 5000}), content_type="application/json"
    )
    assert response.status_code == 413
    assert "exceeds" in response.json()["detail"]


def test_an_upload_is_cut_off_at_the_body_limit_even_without_a_declared_length(settings: Any) -> None:
    from django.core.exceptions import RequestDataTooBig

    from api.uploads import LimitedUploadHandler

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    handler = LimitedUploadHandler()
    handler.handle_raw_input(None, {}, 0, b"boundary")  # a chunked body declares no length
    assert handler.receive_data_chunk(b"x" * 2000, 0) == b"x" * 2000
    with pytest.raises(RequestDataTooBig, match="2048"):
        handler.receive_data_chunk(b"x" * 100, 2000)
    with pytest.raises(RequestDataTooBig):
        LimitedUploadHandler().handle_raw_input(None, {}, 4096, b"boundary")


def test_text_a_database_cannot_store_is_a_422_naming_where_it_is(alice_api: APIClient) -> None:
    from memory.models import Block

    block = alice_api.post("/v1/blocks/", {"label": "notes", "value": "ok"}, format="json").json()
    for body, where, reason in [
        ('{"metadata": {"k": ["a", "b\\u0000c"]}}', "metadata.k[1]", "NUL character"),
        ('{"value": "x\\ud800y"}', "value", "unpaired surrogate"),
        ('{"metadata": {"\\u0000": 1}}', "metadata.", "NUL character"),
    ]:
        response = alice_api.patch(f"/v1/blocks/{block['id']}", body, content_type="application/json")
        assert response.status_code == 422, (body, response.content)
        assert where in response.json()["detail"] and reason in response.json()["detail"]
    assert (Block.objects.get().value, Block.objects.get().metadata) == ("ok", {})
    response = alice_api.get("/v1/agents/", {"name": "a\x00b"})
    assert response.status_code == 422 and "NUL character" in response.json()["detail"]


def test_malformed_json_is_a_4xx(alice_api: APIClient) -> None:
    response = alice_api.post("/v1/blocks/", "{not json", content_type="application/json")
    assert 400 <= response.status_code < 500


def test_send_failures_say_do_not_retry(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    url = f"/v1/agents/{alice_world['agent_id']}/messages"
    response = alice_api.post(url, {"messages": []}, format="json")
    assert response.status_code == 422
    assert response["x-should-retry"] == "false"
    response = alice_api.post(url, {"input": "hi", "stream_tokens": True}, format="json")
    assert response.status_code == 422 and "streaming" in response.json()["detail"]
    assert alice_api.post("/v1/agents/agent-nope/messages", {"input": "x"}, format="json")["x-should-retry"] == "false"


def test_a_repeated_otid_does_not_create_a_second_message(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    url = f"/v1/agents/{alice_world['agent_id']}/messages/async"
    body = {"messages": [{"role": "user", "content": "once", "otid": "o-1"}]}
    first = alice_api.post(url, body, format="json").json()
    second = alice_api.post(url, body, format="json").json()
    assert first["id"] == second["id"] and first["status"] == "created"
    assert Message.objects.filter(otid="o-1").count() == 1


def test_cancel_cancels_the_active_runs(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    agent_url = f"/v1/agents/{alice_world['agent_id']}"
    queued = alice_api.post(f"{agent_url}/messages/async", {"input": "wait"}, format="json").json()["id"]
    response = alice_api.post(f"{agent_url}/messages/cancel", {}, format="json")
    assert response.json() == {queued: "cancelled"}  # the world's finished run is not active
    assert alice_api.get(f"/v1/runs/{queued}").json()["status"] == "cancelled"
    assert alice_api.get(f"/v1/runs/{alice_world['run_id']}").json()["status"] == "completed"


def test_lists_are_bare_arrays_paged_by_cursors(alice_api: APIClient) -> None:
    ids = [alice_api.post("/v1/blocks/", {"label": f"b{i}", "value": ""}, format="json").json()["id"] for i in range(5)]
    assert [b["id"] for b in alice_api.get("/v1/blocks/", {"limit": 2}).json()] == ids[:2]
    assert [b["id"] for b in alice_api.get("/v1/blocks/", {"limit": 2, "after": ids[1]}).json()] == ids[2:4]
    assert [b["id"] for b in alice_api.get("/v1/blocks/", {"before": ids[2]}).json()] == ids[:2]
    assert [b["id"] for b in alice_api.get("/v1/blocks/", {"order": "desc", "after": ids[2]}).json()] == ids[1::-1]
    assert alice_api.get("/v1/blocks/", {"after": ids[-1]}).json() == []
    assert alice_api.get("/v1/blocks/", {"after": "block-nope"}).status_code == 422


def test_archival_memory_create_list_search_delete(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    base = f"/v1/agents/{alice_world['agent_id']}/archival-memory"
    created = alice_api.post(base, {"text": "Cat is Tom", "tags": ["pets"]}, format="json").json()
    assert isinstance(created, list) and created[0]["tags"] == ["pets"]
    found = alice_api.get(f"{base}/search", {"query": "cat", "tags": ["pets"]}).json()
    assert found["count"] == 1 and found["results"][0]["content"] == "Cat is Tom"
    assert alice_api.get(f"{base}/search", {"query": "cat", "tags": ["food"]}).json() == {"results": [], "count": 0}
    assert alice_api.delete(f"{base}/{created[0]['id']}").status_code == 200
    assert [p["text"] for p in alice_api.get(base).json()] == ["a fact"]


def test_reset_takes_messages_out_of_context(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    agent = agent_of(alice_world)
    assert Message.objects.filter(agent=agent, in_context=True).exclude(role="system").count() == 2  # the real run's
    state = alice_api.patch(f"/v1/agents/{alice_world['agent_id']}/reset-messages", {}, format="json").json()
    assert state["message_ids"] == []


def test_runs_steps_and_usage(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    runs = alice_api.get("/v1/runs/", {"agent_id": alice_world["agent_id"]}).json()
    assert [r["id"] for r in runs] == [alice_world["run_id"]]
    step = Step.objects.get(pk=parse_id("step", alice_world["step_id"]))
    assert step.prompt_tokens > 0  # the fake LLM reports usage
    usage = alice_api.get(f"/v1/runs/{alice_world['run_id']}/usage").json()
    assert usage["total_tokens"] == step.prompt_tokens + step.completion_tokens
    steps = alice_api.get(f"/v1/runs/{alice_world['run_id']}/steps").json()
    assert [s["id"] for s in steps] == [alice_world["step_id"]]
    assert alice_api.get(f"/v1/steps/{alice_world['step_id']}").json()["run_id"] == alice_world["run_id"]
    assert Run.objects.count() == 1


def test_counts(alice_api: APIClient, alice_world: dict[str, str], charlie_world: dict[str, str]) -> None:
    assert alice_api.get("/v1/agents/count").json() == 1
    assert alice_api.get("/v1/blocks/count").json() == 2  # the agent's human block and a shared one
    assert alice_api.get("/v1/tools/count").json() == len(alice_api.get("/v1/tools/", {"limit": 1000}).json())


def test_tags_models_and_builtin_tools(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    alice_api.patch(f"/v1/agents/{alice_world['agent_id']}", {"tags": ["x", "y"]}, format="json")
    assert alice_api.get("/v1/tags/").json() == ["x", "y"]
    assert alice_api.get("/v1/tags/", {"after": "x"}).json() == ["y"]
    handles = [m["handle"] for m in alice_api.get("/v1/models/").json()]
    assert "openai/gpt-4o-mini" in handles
    embedding = alice_api.get("/v1/models/embedding").json()
    assert any(m["handle"].startswith("local/") and m["embedding_dim"] == 384 for m in embedding)
    names = {t["name"] for t in alice_api.get("/v1/tools/", {"limit": 200}).json()}
    assert {"archival_memory_insert", "memory_replace", "send_message", "shout"} <= names


def test_the_openapi_schema_has_explicit_unique_operation_ids(alice_api: APIClient) -> None:
    schema = APIClient().get("/v1/openapi.json").json()
    operations = [op for path in schema["paths"].values() for op in path.values() if isinstance(op, dict)]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) >= 40
    assert "send_message" in ids and "list_agents" in ids
    assert all(p.startswith("/v1/") for p in schema["paths"])
    assert APIClient().get("/v1/docs/").status_code == 200
