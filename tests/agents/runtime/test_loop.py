import json

import pytest

from agents.models import Message, RunStatus, Step
from memory.models import Block, BlockRevision
from tests.fakes.llm_server import Reply, ToolCall

pytestmark = pytest.mark.django_db


def drain(layer, channel):
    from asgiref.sync import async_to_sync

    from agents.runtime import events

    events.flush()
    return async_to_sync(_drain)(layer, channel)


async def _drain(layer, channel):
    import asyncio

    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(layer.receive(channel), 0.05))
        except TimeoutError:
            return out


def history(agent):
    return [(m.role, m.text) for m in Message.objects.filter(agent=agent).order_by("seq")]


def test_a_fact_goes_to_memory_and_the_next_request_shows_it(fake_llm, make_agent, send):
    agent = make_agent()
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Has a cat named Tom."}, id="call_1")
    fake_llm.reply("Nice, I'll remember Tom!")
    run = send(agent, "My cat is called Tom.")
    assert (run.status, run.stop_reason, run.step_count) == (RunStatus.COMPLETED, "end_turn", 2)

    block = Block.objects.get(agents=agent, label="human")
    assert block.value == "Has a cat named Tom."
    revision = BlockRevision.objects.get(block=block)
    step0 = Step.objects.get(run=run, index=0)
    assert (revision.before, revision.after, revision.actor_agent_id, revision.step_id, revision.source) == (
        "",
        "Has a cat named Tom.",
        agent.id,
        step0.id,
        "tool",
    )
    assert [(m.role, m.text) for m in Message.objects.filter(run=run).order_by("seq")] == [
        ("user", "My cat is called Tom."),
        ("assistant", ""),
        ("tool", "The memory block 'human' has been updated."),
        ("assistant", "Nice, I'll remember Tom!"),
    ]
    # Step rows keep the exact request and response.
    assert step0.request["messages"][0]["role"] == "system"
    assert step0.response["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "memory_insert"
    assert step0.prompt_tokens > 0 and step0.completion_tokens > 0

    fake_llm.reply("Tom is your cat.")
    send(agent, "What is my cat called?")
    system = fake_llm.last_chat()["messages"][0]["content"]
    assert "<human>" in system and "Has a cat named Tom." in system
    assert "chars_current=20" in system and "chars_limit=200" in system


def test_the_system_message_is_recompiled_only_when_memory_changes(fake_llm, make_agent, send):
    agent = make_agent()
    send(agent, "one")
    send(agent, "two")
    first, second = (r["messages"][0]["content"] for r in fake_llm.chat_requests())
    assert first == second  # the message counts in the metadata do not bust the prompt cache
    block = Block.objects.get(agents=agent, label="human")
    from memory.services.blocks import block_update

    block_update(block=block, value="Name: Ada")
    send(agent, "three")
    assert "Name: Ada" in fake_llm.last_chat()["messages"][0]["content"]


def test_memgpt_chains_three_steps_by_heartbeat_and_replies_with_send_message(fake_llm, make_agent, send):
    agent = make_agent(agent_type="memgpt_agent")
    fake_llm.push(
        Reply(
            text="User shared their name; store it.",
            tool_calls=[
                ToolCall("core_memory_append", {"label": "human", "content": "Name: Ada", "request_heartbeat": True})
            ],
        )
    )
    fake_llm.push(
        Reply(
            text="Check whether we talked before.",
            tool_calls=[ToolCall("conversation_search", {"query": "Ada", "request_heartbeat": True})],
        )
    )
    fake_llm.push(Reply(text="Greet her.", tool_calls=[ToolCall("send_message", {"message": "Hello Ada!"})]))
    run = send(agent, "Hi, I'm Ada")
    assert (run.status, run.stop_reason, run.step_count) == (RunStatus.COMPLETED, "end_turn", 3)
    assert Block.objects.get(agents=agent, label="human").value == "Name: Ada"
    replies = Message.objects.filter(run=run, role="assistant").order_by("seq")
    assert [m.reasoning for m in replies] == [
        "User shared their name; store it.",
        "Check whether we talked before.",
        "Greet her.",
    ]
    assert replies.last().text == "Hello Ada!"
    requests = fake_llm.chat_requests()
    assert len(requests) == 3
    tools = {t["function"]["name"]: t["function"] for t in requests[0]["tools"]}
    assert "request_heartbeat" in tools["core_memory_append"]["parameters"]["properties"]
    assert "request_heartbeat" not in tools["send_message"]["parameters"]["properties"]
    # The third request carries the search result of the second step.
    assert requests[2]["messages"][-1]["role"] == "tool"


def test_memgpt_without_heartbeat_stops_after_the_tool(fake_llm, make_agent, send):
    agent = make_agent(agent_type="memgpt")
    fake_llm.tool_call("core_memory_append", {"label": "human", "content": "x", "request_heartbeat": False})
    run = send(agent, "hi")
    assert (run.stop_reason, run.step_count) == ("end_turn", 1)


def test_a_write_beyond_the_limit_is_a_tool_error_and_leaves_the_block_unchanged(fake_llm, make_agent, send):
    agent = make_agent()
    block = Block.objects.get(agents=agent, label="human")
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "x" * 250})
    fake_llm.reply("Sorry, that did not fit.")
    run = send(agent, "remember a lot")
    assert run.status == RunStatus.COMPLETED
    error = Message.objects.get(run=run, role="tool")
    assert error.is_err
    assert "Exceeds 200 character limit (requested 250)" in error.text
    assert Block.objects.get(pk=block.pk).value == ""
    assert not BlockRevision.objects.exists()
    # The model saw the error as the tool result.
    assert "Exceeds 200 character limit" in fake_llm.last_chat()["messages"][-1]["content"]


def test_read_only_blocks_refuse_the_agent(fake_llm, make_agent, send):
    agent = make_agent(memory_blocks=[{"label": "policy", "value": "be nice", "read_only": True}])
    fake_llm.tool_call("memory_replace", {"label": "policy", "old_string": "nice", "new_string": "mean"})
    fake_llm.reply("I cannot change that.")
    run = send(agent, "be mean")
    assert "read-only" in Message.objects.get(run=run, role="tool").text
    assert Block.objects.get(label="policy").value == "be nice"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (ToolCall("memory_insert", '{"label": "human", "new_string": '), "not valid JSON"),
        (ToolCall("no_such_tool", {}), "unknown tool 'no_such_tool'"),
        (ToolCall("memory_insert", {"label": "human"}), "missing required argument(s): new_string"),
        (ToolCall("memory_insert", {"label": "human", "new_string": 3}), "'new_string' must be of type string"),
        (ToolCall("memory_insert", {"label": "human", "new_string": "x", "bogus": 1}), "unexpected argument(s): bogus"),
    ],
)
def test_bad_tool_calls_go_back_to_the_model(fake_llm, make_agent, send, call, expected):
    agent = make_agent()
    fake_llm.push(Reply(tool_calls=[call]))
    fake_llm.reply("fixed it")
    run = send(agent, "go")
    assert (run.status, run.stop_reason) == (RunStatus.COMPLETED, "end_turn")
    error = Message.objects.get(run=run, role="tool")
    assert error.is_err and expected in error.text


def test_tool_errors_are_bounded(fake_llm, make_agent, send):
    agent = make_agent()
    fake_llm.default = Reply(tool_calls=[ToolCall("no_such_tool", {})])
    run = send(agent, "go")
    assert (run.status, run.stop_reason, run.step_count) == (RunStatus.FAILED, "invalid_tool_call", 3)


def test_max_steps(fake_llm, make_agent, send):
    agent = make_agent()
    fake_llm.default = Reply(tool_calls=[ToolCall("conversation_search", {"query": "x"})])
    run = send(agent, "loop forever", max_steps=4)
    assert (run.status, run.stop_reason, run.step_count) == (RunStatus.COMPLETED, "max_steps", 4)


def test_429_then_success_completes(fake_llm, make_agent, send):
    agent = make_agent()
    fake_llm.error(429, "Rate limit reached").error(503, "overloaded").reply("finally")
    run = send(agent, "hi")
    assert (run.status, run.stop_reason) == (RunStatus.COMPLETED, "end_turn")
    assert history(agent)[-1] == ("assistant", "finally")
    assert len(fake_llm.chat_requests()) == 3


def test_a_persistent_500_fails_the_run_with_a_stop_reason(fake_llm, make_agent, send, settings):
    settings.ENGRAM_LLM_MAX_RETRIES = 2
    agent = make_agent()
    fake_llm.default = Reply(error_status=500, error_body={"error": {"message": "boom", "type": "server_error"}})
    run = send(agent, "hi")
    assert (run.status, run.stop_reason) == (RunStatus.FAILED, "llm_api_error")
    assert len(fake_llm.chat_requests()) == 3
    step = Step.objects.get(run=run)
    assert step.error and step.stop_reason == "llm_api_error"
    assert history(agent) == [("user", "hi")]


def test_a_bad_request_is_not_retried(fake_llm, make_agent, send):
    agent = make_agent()
    fake_llm.error(400, "bad parameter")
    run = send(agent, "hi")
    assert (run.status, run.stop_reason) == (RunStatus.FAILED, "llm_api_error")
    assert len(fake_llm.chat_requests()) == 1


def test_custom_tools_run_out_of_process(fake_llm, make_agent, send, alice):
    from agents.services.tools import tool_create

    tool_create(
        actor=alice,
        source_code=(
            'def add(a: int, b: int) -> int:\n    """Add.\n\n    Args:\n        a: first\n'
            '        b: second\n    """\n    return a + b\n'
        ),
    )
    agent = make_agent(tools=["add"])
    fake_llm.tool_call("add", {"a": 2, "b": 40})
    fake_llm.reply("42")
    run = send(agent, "add")
    assert Message.objects.get(run=run, role="tool").text == "42"


def test_custom_tools_run_with_their_agents_secrets_and_no_others(fake_llm, make_agent, send, alice):
    from agents.services.tools import tool_create

    tool_create(
        actor=alice,
        source_code=(
            'def weather(city: str) -> str:\n    """Weather.\n\n    Args:\n        city: where\n    """\n'
            "    import os\n"
            "    return f\"{city}: key={os.environ.get('WEATHER_KEY')} other={os.environ.get('OTHER_KEY')}\"\n"
        ),
    )
    agent = make_agent(tools=["weather"], secrets={"WEATHER_KEY": "abc-123"})
    make_agent(tools=["weather"], secrets={"OTHER_KEY": "not-yours"})
    fake_llm.tool_call("weather", {"city": "Oslo"})
    fake_llm.reply("Sunny.")
    run = send(agent, "weather?")
    assert Message.objects.get(run=run, role="tool").text == "Oslo: key=abc-123 other=None"


def test_streaming_publishes_token_events(fake_llm, make_agent, send, django_capture_on_commit_callbacks):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    agent = make_agent()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"agent.{agent.id}", channel)
    fake_llm.reply("The quick brown fox")
    with django_capture_on_commit_callbacks(execute=True):
        run = send(agent, "stream please", options={"stream_tokens": True})
    assert history(agent)[-1] == ("assistant", "The quick brown fox")
    received = drain(layer, channel)
    deltas = "".join(e["delta"] for e in received if e["type"] == "agent.token")
    assert deltas == "The quick brown fox"
    types = [e["type"] for e in received]
    assert {"agent.message", "agent.step", "agent.run_status"} <= set(types)
    assert run.status == RunStatus.COMPLETED


def test_archival_tools_use_memory_services(fake_llm, make_agent, send):
    agent = make_agent(tools=["archival_memory_insert", "archival_memory_search"])
    fake_llm.tool_call("archival_memory_insert", {"content": "Tom likes tuna", "tags": ["pets"]})
    fake_llm.tool_call("archival_memory_search", {"query": "tuna", "tags": ["pets"]})
    fake_llm.reply("done")
    run = send(agent, "store and find")
    result = json.loads(Message.objects.filter(run=run, role="tool").order_by("seq").last().text)
    assert result["results"][0]["content"] == "Tom likes tuna"


def test_context_overview_accounts_for_the_window(fake_llm, make_agent, send):
    from agents.runtime.overview import context_overview

    agent = make_agent(context_window_limit=8000)
    send(agent, "hello")
    overview = context_overview(agent=agent)
    assert overview.window == 8000
    assert overview.messages == 2 and overview.recall == 2
    assert overview.current == overview.tokens_system + overview.tokens_functions + overview.tokens_messages
    assert "<memory_blocks>" in overview.system


def test_context_overview_never_writes(make_agent):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from agents.runtime.overview import context_overview
    from memory.services.blocks import block_update

    agent = make_agent()
    block = agent.blocks.get(label="persona")
    block_update(block=block, actor=None, value="I am curious.")  # the stored compiled prompt is now stale
    with CaptureQueriesContext(connection) as queries:
        overview = context_overview(agent=agent)
    assert "I am curious." in overview.system and "I am curious." in overview.core_memory
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []


def test_a_block_write_publishes_an_agent_block_event(make_agent, django_capture_on_commit_callbacks):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from memory.services.blocks import block_update

    agent = make_agent()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"agent.{agent.id}", channel)
    with django_capture_on_commit_callbacks(execute=True):
        block_update(block=Block.objects.get(agents=agent, label="human"), value="Name: Ada")
    received = [e for e in drain(layer, channel) if e["type"] == "agent.block"]
    assert received and received[0]["label"] == "human" and received[0]["value"] == "Name: Ada"
    assert received[0]["revision_id"]


def test_memgpt_answering_without_a_tool_stops_with_no_tool_call(fake_llm, make_agent, send):
    agent = make_agent(agent_type="memgpt")
    fake_llm.reply("just text")
    run = send(agent, "hi")
    assert (run.status, run.stop_reason) == (RunStatus.COMPLETED, "no_tool_call")


def test_a_step_records_its_cost_from_the_model_price(fake_llm, make_agent, send):
    from agents.models import Step

    run = send(make_agent(model="openai/gpt-4o-mini"), "hello")
    step = Step.objects.get(run=run)
    assert step.prompt_tokens > 0 and step.completion_tokens > 0
    assert step.cost > 0  # gpt-4o-mini is in litellm's price list, though the request went to an OpenAI-compatible URL


def test_memgpt_with_base_tool_rules_goes_on_after_memory_tools_without_heartbeat(fake_llm, make_agent, send):
    agent = make_agent(agent_type="memgpt", include_base_tool_rules=True)
    fake_llm.tool_call("core_memory_append", {"label": "human", "content": "Name: Ada", "request_heartbeat": False})
    fake_llm.tool_call("send_message", {"message": "Hello Ada!"})
    run = send(agent, "I'm Ada")
    assert (run.status, run.stop_reason, run.step_count) == (RunStatus.COMPLETED, "tool_rule", 2)
    assert Message.objects.filter(run=run, role="assistant").order_by("seq").last().text == "Hello Ada!"


# 21 queries on PostgreSQL, 20 on SQLite when this was written.
QUERIES_PER_PLAIN_RUN = 22


def test_a_plain_reply_costs_the_same_few_queries_however_long_the_history(alice, fake_llm, make_agent, send):
    """The queries of a run of one step (claim, context, step, end): a bound that catches a query per message of
    the history, or a new per-step read, creeping in (CPU per message: docs/benchmarks.md)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from agents.runtime.loop import run_execute
    from agents.services.runs import run_create

    agent = make_agent()
    counts = []
    for turn in range(3):
        for _ in range(5 if turn else 1):  # a longer history before the measured run of each turn
            fake_llm.reply("ok")
            send(agent, "hello")
        run = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "and now?"}])
        fake_llm.reply("fine")
        with CaptureQueriesContext(connection) as queries:
            run_execute(run_id=run.id, token="test")
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2], counts
    assert counts[0] <= QUERIES_PER_PLAIN_RUN, [q["sql"][:120] for q in queries]
