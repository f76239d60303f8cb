"""The routes that sit on existing models: message edit and organization-wide messages, run and step metrics,
feedback, recompile, context window, core memory, tool search and runs, readiness. Behaviour, tenancy (another
organization's ids are 404) and bad input (4xx, nothing written)."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Agent, Message, Run, RunStatus, Step
from agents.runtime.loop import run_execute
from agents.services.agents import agent_create
from agents.services.messages import MessageSpec, message_create_many
from agents.services.runs import run_create
from lib.ids import parse_id, public_id
from memory.models import Block
from tests import factories
from tests.api.conftest import agent_of
from tests.fakes.llm_server import FakeLLM, Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def ran(alice: Any, fake_llm: FakeLLM) -> dict[str, Any]:
    """An agent of Alice's after one real run: a memory edit through a tool, then a reply (two steps)."""
    agent = agent_create(
        actor=alice, name="ran", model="openai/gpt-4o-mini", memory_blocks=[{"label": "human", "value": ""}]
    )
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Has a cat named Tom."}, id="call_1")
    fake_llm.reply("Noted: your cat is Tom.")
    run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "My cat is Tom"}])
    run_execute(run_id=run.id, token="test")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    steps = list(Step.objects.filter(run=run).order_by("index"))
    return {
        "agent": agent,
        "run": run,
        "steps": steps,
        "run_id": public_id("run", run.id),
        "agent_id": public_id("agent", agent.id),
    }


# -- messages -----------------------------------------------------------------------------------------------


def test_modify_message_edits_the_text_and_the_context_sees_it(alice_api: APIClient, ran: dict[str, Any]) -> None:
    agent = ran["agent"]
    user = Message.objects.get(run=ran["run"], role="user")
    version = Agent.objects.get(pk=agent.pk).context_version
    url = f"/v1/agents/{ran['agent_id']}/messages/{public_id('message', user.id)}"
    response = alice_api.patch(url, {"message_type": "user_message", "content": "My cat is Felix"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["message_type"], body["content"], body["id"]) == (
        "user_message",
        "My cat is Felix",
        public_id("message", user.id),
    )
    user.refresh_from_db()
    assert (user.text, user.content) == ("My cat is Felix", [{"type": "text", "text": "My cat is Felix"}])
    assert Agent.objects.get(pk=agent.pk).context_version == version + 1
    context = alice_api.get(f"/v1/agents/{ran['agent_id']}/context").json()
    assert "My cat is Felix" in [m["text"] for m in context["messages"]]
    listed = alice_api.get(f"/v1/agents/{ran['agent_id']}/messages", {"order": "asc"}).json()
    assert listed[0]["content"] == "My cat is Felix"


def test_modify_message_edits_an_assistant_reply_and_reasoning(alice_api: APIClient, ran: dict[str, Any]) -> None:
    reply = Message.objects.filter(run=ran["run"], role="assistant").order_by("-seq").first()
    assert reply is not None
    url = f"/v1/agents/{ran['agent_id']}/messages/{public_id('message', reply.id)}"
    body = alice_api.patch(url, {"message_type": "assistant_message", "content": "Tom it is."}, format="json").json()
    assert (body["message_type"], body["content"]) == ("assistant_message", "Tom it is.")
    body = alice_api.patch(url, {"message_type": "reasoning_message", "reasoning": "cats"}, format="json").json()
    assert (body["message_type"], body["reasoning"]) == ("reasoning_message", "cats")
    reply.refresh_from_db()
    assert (reply.text, reply.reasoning) == ("Tom it is.", "cats")


def test_modify_message_rejects_bad_input_and_writes_nothing(alice_api: APIClient, ran: dict[str, Any]) -> None:
    user = Message.objects.get(run=ran["run"], role="user")
    url = f"/v1/agents/{ran['agent_id']}/messages/{public_id('message', user.id)}"
    for body, field in [
        ({"message_type": "assistant_message", "content": "x"}, "message_type"),  # a user message
        ({"message_type": "user_message"}, "content"),
        ({"message_type": "user_message", "content": [{"type": "image"}]}, "content"),
        ({"message_type": "tool_return_message", "content": "x"}, "message_type"),
        ({"message_type": "user_message", "content": "nul \u0000"}, "content"),
    ]:
        response = alice_api.patch(url, body, format="json")
        assert response.status_code == 422, body
        assert response.json()["detail"].startswith(f"{field}: "), response.json()
    user.refresh_from_db()
    assert user.text == "My cat is Tom"
    # A message of another agent of the same organization is not this agent's.
    other = alice_api.post("/v1/agents/", {"model": "openai/gpt-4o-mini"}, format="json").json()["id"]
    response = alice_api.patch(
        f"/v1/agents/{other}/messages/{public_id('message', user.id)}", {"content": "x"}, format="json"
    )
    assert response.status_code == 404


def test_organization_messages_list_retrieve_and_page(
    alice_api: APIClient, charlie_api: APIClient, ran: dict[str, Any]
) -> None:
    everything = alice_api.get("/v1/messages/", {"order": "asc"}).json()
    rows = list(Message.objects.filter(run=ran["run"]).order_by("seq"))
    assert [m["id"] for m in everything] == [public_id("message", r.id) for r in rows]
    types = ["user_message", "tool_call_message", "tool_return_message", "assistant_message"]
    assert [m["message_type"] for m in everything] == types
    # The SDK follows `after`: two rows at a time give the same messages.
    paged, after = [], None
    while True:
        page = alice_api.get("/v1/messages", {"order": "asc", "limit": 2, **({"after": after} if after else {})}).json()
        if not page:
            break
        paged += page
        after = page[-1]["id"]
    assert [(m["id"], m["otid"]) for m in paged] == [(m["id"], m["otid"]) for m in everything]
    newest = alice_api.get("/v1/messages/", {"limit": 1}).json()
    assert newest[0]["message_type"] == "assistant_message"
    # Retrieve answers the LettaMessages of one stored row.
    one = alice_api.get(f"/v1/messages/{public_id('message', rows[0].id)}").json()
    assert one == [everything[0]]
    # Nothing of Alice's for Charlie, and her ids are 404 / 422 (cursor) for him.
    assert charlie_api.get("/v1/messages/").json() == []
    assert charlie_api.get(f"/v1/messages/{public_id('message', rows[0].id)}").status_code == 404
    assert charlie_api.get("/v1/messages/", {"after": public_id("message", rows[0].id)}).status_code == 422


def test_message_search_uses_recall_search_across_the_organization(
    alice: Any, alice_api: APIClient, charlie_api: APIClient, ran: dict[str, Any], fake_llm: FakeLLM
) -> None:
    other = alice_api.post("/v1/agents/", {"model": "openai/gpt-4o-mini", "name": "second"}, format="json").json()
    second = Agent.objects.get(pk=parse_id("agent", other["id"]))
    fake_llm.reply("I could not say.")
    factories.send(alice, second, "Where does the cat sleep?")
    found = alice_api.post("/v1/messages/search", {"query": "cat", "search_mode": "fts"}, format="json").json()
    assert {r["agent_id"] for r in found} == {ran["agent_id"], other["id"]}
    assert all(r["message_type"] in ("user_message", "assistant_message", "reasoning_message") for r in found)
    assert all(r["message_id"].startswith("message-") and r["created_at"] for r in found)
    one = alice_api.post(
        "/v1/messages/search", {"query": "cat", "agent_id": other["id"], "search_mode": "fts"}, format="json"
    ).json()
    assert [(r["agent_id"], r["content"]) for r in one] == [(other["id"], "Where does the cat sleep?")]
    hybrid = alice_api.post("/v1/messages/search", {"query": "Tom", "limit": 1}, format="json").json()
    assert len(hybrid) == 1 and hybrid[0]["agent_id"] == ran["agent_id"]
    # Another organization's agent is a 404, its messages never show.
    response = charlie_api.post("/v1/messages/search", {"query": "cat", "agent_id": other["id"]}, format="json")
    assert response.status_code == 404
    assert charlie_api.post("/v1/messages/search", {"query": "cat"}, format="json").json() == []
    for body, field in [({}, "query"), ({"query": "cat", "search_mode": "magic"}, "search_mode")]:
        response = alice_api.post("/v1/messages/search", body, format="json")
        assert response.status_code == 422 and response.json()["detail"].startswith(f"{field}: ")


def test_message_search_asks_for_an_agent_past_the_limit(alice: Any, alice_api: APIClient) -> None:
    from agents.runtime.recall import MAX_AGENTS_SEARCHED

    for index in range(MAX_AGENTS_SEARCHED + 1):
        agent = agent_create(actor=alice, name=f"a{index}", model="openai/gpt-4o-mini", include_base_tools=False)
        message_create_many(agent=agent, specs=[MessageSpec(role="user", text="hello")])
    response = alice_api.post("/v1/messages/search", {"query": "hello"}, format="json")
    assert response.status_code == 422 and response.json()["detail"].startswith("agent_id: ")
    response = alice_api.post(
        "/v1/messages/search", {"query": "hello", "agent_id": public_id("agent", agent.id)}, format="json"
    )
    assert [r["content"] for r in response.json()] == ["hello"]


# -- runs and steps -----------------------------------------------------------------------------------------


def test_run_metrics(alice_api: APIClient, ran: dict[str, Any]) -> None:
    metrics = alice_api.get(f"/v1/runs/{ran['run_id']}/metrics").json()
    run = ran["run"]
    assert metrics["id"] == ran["run_id"] and metrics["agent_id"] == ran["agent_id"]
    assert metrics["num_steps"] == 2
    assert metrics["run_start_ns"] == int(run.started_at.timestamp() * 1e9)
    assert metrics["run_ns"] == int((run.completed_at - run.started_at).total_seconds() * 1e9) > 0
    memory_insert = alice_api.get("/v1/tools/", {"name": "memory_insert"}).json()[0]
    assert metrics["tools_used"] == [memory_insert["id"]]


def test_delete_run_cancels_an_active_run_and_keeps_its_messages(
    alice_api: APIClient, charlie_api: APIClient, alice_world: dict[str, str]
) -> None:
    agent_url = f"/v1/agents/{alice_world['agent_id']}"
    run_id = alice_api.post(f"{agent_url}/messages/async", {"input": "wait"}, format="json").json()["id"]
    [message] = Message.objects.filter(run=parse_id("run", run_id))
    assert charlie_api.delete(f"/v1/runs/{run_id}").status_code == 404
    assert Run.objects.filter(pk=parse_id("run", run_id)).exists()
    response = alice_api.delete(f"/v1/runs/{run_id}")
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["status"]) == (run_id, "cancelled")
    assert not Run.objects.filter(pk=parse_id("run", run_id)).exists()
    assert Message.objects.filter(pk=message.pk, run=None).exists()
    assert alice_api.get(f"/v1/runs/{run_id}").status_code == 404
    assert alice_api.delete(f"/v1/runs/{run_id}").status_code == 404


def test_delete_a_finished_run(alice_api: APIClient, ran: dict[str, Any]) -> None:
    response = alice_api.delete(f"/v1/runs/{ran['run_id']}")
    assert response.json()["status"] == "completed"
    assert not Step.objects.filter(pk__in=[s.pk for s in ran["steps"]]).exists()  # the steps go with the run
    assert Message.objects.filter(agent=ran["agent"], run=None).count() == 4


def test_step_messages_and_metrics(alice_api: APIClient, ran: dict[str, Any]) -> None:
    first, second = ran["steps"]
    messages = alice_api.get(f"/v1/steps/{public_id('step', first.id)}/messages").json()
    assert [m["message_type"] for m in messages] == ["tool_return_message", "tool_call_message"]
    messages = alice_api.get(f"/v1/steps/{public_id('step', first.id)}/messages", {"order": "asc"}).json()
    assert [m["message_type"] for m in messages] == ["tool_call_message", "tool_return_message"]
    assert all(m["step_id"] == public_id("step", first.id) for m in messages)
    assert [m["content"] for m in alice_api.get(f"/v1/steps/{public_id('step', second.id)}/messages").json()] == [
        "Noted: your cat is Tom."
    ]
    metrics = alice_api.get(f"/v1/steps/{public_id('step', first.id)}/metrics").json()
    assert (metrics["id"], metrics["run_id"], metrics["agent_id"]) == (
        public_id("step", first.id),
        ran["run_id"],
        ran["agent_id"],
    )
    assert metrics["llm_request_ns"] == first.latency_ms * 1_000_000


def test_step_feedback_is_stored(alice_api: APIClient, charlie_api: APIClient, alice_world: dict[str, str]) -> None:
    url = f"/v1/steps/{alice_world['step_id']}/feedback"
    step = alice_api.patch(url, {"feedback": "positive", "tags": ["helpful"]}, format="json").json()
    assert (step["feedback"], step["tags"]) == ("positive", ["helpful"])
    step = alice_api.patch(url, {"tags": ["helpful", "short"]}, format="json").json()
    assert (step["feedback"], step["tags"]) == ("positive", ["helpful", "short"])
    assert alice_api.get(f"/v1/steps/{alice_world['step_id']}").json()["feedback"] == "positive"
    assert alice_api.patch(url, {"feedback": None}, format="json").json()["feedback"] is None
    stored = Step.objects.get(pk=parse_id("step", alice_world["step_id"]))
    assert (stored.feedback, stored.feedback_tags) == ("", ["helpful", "short"])
    for body, field in [({"feedback": "meh"}, "feedback"), ({"tags": "x"}, "tags"), ({"tags": [""]}, "tags")]:
        response = alice_api.patch(url, body, format="json")
        assert response.status_code == 422 and response.json()["detail"].startswith(f"{field}: ")
    assert charlie_api.patch(url, {"feedback": "negative"}, format="json").status_code == 404
    stored.refresh_from_db()
    assert (stored.feedback, stored.feedback_tags) == ("", ["helpful", "short"])


# -- agents -------------------------------------------------------------------------------------------------


def test_recompile_rebuilds_the_system_prompt_from_current_memory(
    alice_api: APIClient, alice_world: dict[str, str]
) -> None:
    agent = agent_of(alice_world)
    url = f"/v1/agents/{alice_world['agent_id']}/recompile"
    response = alice_api.post(url)
    assert response.status_code == 200 and response["content-type"].startswith("text/plain")
    compiled = response.content.decode()
    assert compiled.startswith(agent.system) and "<human>" in compiled and "<memory_metadata>" in compiled
    assert Agent.objects.get(pk=agent.pk).compiled_system == compiled
    # A new block shows in a dry run, which stores nothing.
    Block.objects.filter(agents=agent, label="human").update(value="Name: Ada")
    dry = alice_api.post(f"{url}?dry_run=true").content.decode()
    assert "Name: Ada" in dry
    assert Agent.objects.get(pk=agent.pk).compiled_system == compiled
    assert "Name: Ada" in alice_api.post(url).content.decode()
    assert "Name: Ada" in Agent.objects.get(pk=agent.pk).compiled_system
    assert alice_api.post(f"{url}?dry_run=maybe").status_code == 422


def test_context_window_overview(alice_api: APIClient, ran: dict[str, Any]) -> None:
    context = alice_api.get(f"/v1/agents/{ran['agent_id']}/context").json()
    agent = Agent.objects.get(pk=ran["agent"].pk)
    assert context["system_prompt"] == agent.system
    assert "<human>" in context["core_memory"] and "Has a cat named Tom." in context["core_memory"]
    assert context["external_memory_summary"].startswith("<memory_metadata>")
    parts = (
        "num_tokens_system",
        "num_tokens_core_memory",
        "num_tokens_external_memory_summary",
        "num_tokens_summary_memory",
        "num_tokens_functions_definitions",
        "num_tokens_messages",
    )
    assert all(context[p] >= 0 for p in parts) and context["num_tokens_core_memory"] > 0
    assert context["context_window_size_current"] == sum(context[p] for p in parts)
    assert context["context_window_size_max"] == agent.context_window_limit
    assert context["num_messages"] == len(context["messages"]) == 4
    assert [m["role"] for m in context["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert {f["function"]["name"] for f in context["functions_definitions"]} >= {"memory_insert"}
    assert context["num_recall_memory"] == 4 and context["num_archival_memory"] == 0


def test_the_api_and_the_ade_present_one_context_overview(alice_api: APIClient, ran: dict[str, Any]) -> None:
    from ade.context_window import context_breakdown

    context = alice_api.get(f"/v1/agents/{ran['agent_id']}/context").json()
    panel = context_breakdown(Agent.objects.get(pk=ran["agent"].pk))
    tokens = {section.name: section.tokens for section in panel.sections}
    assert panel.used == context["context_window_size_current"] and panel.limit == context["context_window_size_max"]
    assert tokens["memory blocks"] == context["num_tokens_core_memory"] > 0
    assert tokens["system"] == context["num_tokens_system"] + context["num_tokens_external_memory_summary"]
    assert tokens["messages"] == context["num_tokens_messages"]
    assert tokens["tool schemas"] == context["num_tokens_functions_definitions"]
    assert (panel.messages, panel.recall, panel.archival) == (
        context["num_messages"],
        context["num_recall_memory"],
        context["num_archival_memory"],
    )


def test_core_memory_is_the_deprecated_memory_object(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    memory = alice_api.get(f"/v1/agents/{alice_world['agent_id']}/core-memory").json()
    state = alice_api.get(f"/v1/agents/{alice_world['agent_id']}").json()
    assert memory == state["memory"]
    assert [b["label"] for b in memory["blocks"]] == ["human"] and memory["file_blocks"] == []


# -- tools --------------------------------------------------------------------------------------------------


def test_tool_search(alice_api: APIClient, charlie_api: APIClient, alice_world: dict[str, str]) -> None:
    found = alice_api.post("/v1/tools/search", {"query": "shout loudly"}, format="json").json()
    assert found[0]["tool"]["name"] == "shout" and found[0]["combined_score"] > 0 and found[0]["fts_rank"] == 1
    memory = alice_api.post("/v1/tools/search", {"query": "memory", "limit": 3}, format="json").json()
    assert len(memory) == 3 and all("memory" in r["tool"]["name"] for r in memory)
    custom = alice_api.post("/v1/tools/search", {"tool_types": ["custom"]}, format="json").json()
    assert [r["tool"]["name"] for r in custom] == ["shout"]
    assert alice_api.post("/v1/tools/search", {"tags": ["base"], "query": "shout"}, format="json").json() == []
    assert "shout" not in {r["tool"]["name"] for r in charlie_api.post("/v1/tools/search", {}, format="json").json()}
    assert alice_api.post("/v1/tools/search", {"limit": 0}, format="json").status_code == 422


def test_add_base_tools_lists_the_builtins(alice_api: APIClient) -> None:
    tools = alice_api.post("/v1/tools/add-base-tools").json()
    names = [t["name"] for t in tools]
    assert names == sorted(names) and {"send_message", "memory_insert", "conversation_search"} <= set(names)
    assert all(t["id"].startswith("tool-") for t in tools)


def test_run_a_tool_of_the_agent(alice_api: APIClient, charlie_api: APIClient, alice_world: dict[str, str]) -> None:
    agent = agent_of(alice_world)
    base = f"/v1/agents/{alice_world['agent_id']}/tools"
    result = alice_api.post(
        f"{base}/memory_insert/run", {"args": {"label": "human", "new_string": "Likes tea."}}, format="json"
    ).json()
    assert result["status"] == "success" and "updated" in result["func_return"]
    assert "Likes tea." in Block.objects.get(agents=agent, label="human").value
    assert "Likes tea." in next(b["value"] for b in result["agent_state"]["blocks"] if b["label"] == "human")
    # A custom tool runs in its own process.
    tool_id = alice_world["tool_id"]
    alice_api.patch(f"{base}/attach/{tool_id}")
    result = alice_api.post(f"{base}/shout/run", {"args": {"text": "hi"}}, format="json").json()
    assert (result["status"], result["func_return"]) == ("success", "HI")
    # A failing call is a result with status error, and writes nothing.
    result = alice_api.post(f"{base}/memory_insert/run", {"args": {"label": "nope", "new_string": "x"}}, format="json")
    assert result.status_code == 200 and result.json()["status"] == "error"
    assert "No memory block" in result.json()["func_return"]
    result = alice_api.post(f"{base}/shout/run", {"args": {"loud": True}}, format="json").json()
    assert result["status"] == "error"
    # A tool the agent does not have, bad args, and another organization are refused.
    assert alice_api.post(f"{base}/archival_memory_search/run", {"args": {}}, format="json").status_code == 404
    assert alice_api.post(f"{base}/shout/run", {"args": "x"}, format="json").status_code == 422
    response = alice_api.post(
        f"{base}/memory_insert/run", {"args": {"label": "human", "new_string": "a\u0000b"}}, format="json"
    )
    assert response.status_code == 422 and response.json()["detail"].startswith("args.new_string: holds a NUL")
    assert "a\x00b" not in Block.objects.get(agents=agent, label="human").value
    assert charlie_api.post(f"{base}/shout/run", {"args": {"text": "x"}}, format="json").status_code == 404


def test_run_a_tool_from_source(alice_api: APIClient) -> None:
    source = 'def add(a: int, b: int) -> int:\n    """Add.\n\n    Args:\n        a: one\n        b: two\n    """\n'
    source += '    print("adding")\n    return a + b\n'
    result = alice_api.post("/v1/tools/run", {"source_code": source, "args": {"a": 2, "b": 3}}, format="json").json()
    assert (result["message_type"], result["status"], result["tool_return"]) == ("tool_return_message", "success", "5")
    assert result["stdout"] == ["adding"] and result["name"] == "add"
    failing = source.replace("return a + b", "raise ValueError('no')")
    result = alice_api.post("/v1/tools/run", {"source_code": failing, "args": {"a": 1, "b": 1}}, format="json").json()
    assert result["status"] == "error" and "ValueError: no" in result["tool_return"]
    env = 'def env() -> str:\n    """Env."""\n    import os\n\n    return os.environ["GREETING"]\n'
    body = {"source_code": env, "env_vars": {"GREETING": "hello"}}
    assert alice_api.post("/v1/tools/run", body, format="json").json()["tool_return"] == "hello"
    for body, field in [
        ({"source_code": "x = 1"}, "source_code"),
        ({"source_code": source, "args": [1]}, "args"),
        ({"source_code": source, "pip_requirements": [{"name": "numpy"}]}, "pip_requirements"),
        ({"source_code": env, "env_vars": {"NOT=OK": "x"}}, "env_vars"),
    ]:
        response = alice_api.post("/v1/tools/run", body, format="json")
        assert response.status_code == 422 and response.json()["detail"].startswith(f"{field}: "), response.json()
    from agents.models import Tool

    assert not Tool.objects.filter(name="add").exists()


# -- readiness ----------------------------------------------------------------------------------------------


def test_ready_is_public_in_both_slash_forms() -> None:
    for url in ("/v1/ready/", "/v1/ready", "/latest/ready/"):
        response = APIClient().get(url)
        assert response.status_code == 200 and response.json()["status"] == "ok"


def test_organization_message_pages_cost_the_same_queries_for_more_rows(
    alice: Any, alice_api: APIClient, fake_llm: FakeLLM
) -> None:
    """No query per row: a page of 32 stored messages (16 turns) costs what a page of two does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    agent = agent_create(actor=alice, name="q", model="openai/gpt-4o-mini")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice_api.get("/v1/messages/", {"limit": 100}).status_code == 200
        return len(captured)

    fake_llm.default = Reply(text="noted")
    factories.send(alice, agent, "one")
    queries()  # the key's first use writes its last-used time
    few = queries()
    for i in range(15):
        factories.send(alice, agent, f"m{i}")
    assert queries() == few
