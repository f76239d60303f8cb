import json
import re

import pytest

from agents.models import Message, RunStatus
from agents.runtime import context, llm
from agents.runtime.context import SUMMARIZER_SYSTEM
from agents.services.messages import agent_summarize
from agents.tools.builtin import ToolContext
from agents.tools.memory_tools import conversation_search
from tests.fakes.llm_server import Reply, ToolCall

pytestmark = pytest.mark.django_db

WINDOW = 2_000
MODEL = "openai/gpt-4o-mini"


def is_summarizer(body):
    return body["messages"][0]["content"] == SUMMARIZER_SYSTEM


def responder(body):
    """Summaries for the summarizer, otherwise echo the marker of the last user message."""
    if is_summarizer(body):
        markers = re.findall(r"marker\d+", body["messages"][1]["content"])
        return f"The user shared facts {markers[0] if markers else ''} to {markers[-1] if markers else ''}."
    users = [m for m in body["messages"] if m["role"] == "user"]
    marker = re.findall(r"marker\d+", users[-1]["content"])
    return f"Noted {marker[-1] if marker else 'nothing'}."


def request_tokens(body):
    return llm.count_tokens(MODEL, messages=body["messages"], tools=body.get("tools")) + body.get("max_tokens", 0)


def fact(i):
    return f"Fact number marker{i:05d}: my favourite colour today is shade {i} and I had {i % 7} coffees."


def test_compaction_evicts_oldest_keeps_recall_and_writes_a_summary(
    fake_llm, make_agent, send, django_capture_on_commit_callbacks
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from tests.agents.runtime.test_loop import drain

    agent = make_agent(context_window_limit=WINDOW)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"agent.{agent.id}", channel)
    fake_llm.default = responder
    received = []
    for i in range(40):
        with django_capture_on_commit_callbacks(execute=True):
            send(agent, fact(i))
        received += drain(layer, channel)  # the in-memory layer holds 100 events per channel
    agent.refresh_from_db()
    assert agent.summary.startswith("The user shared facts marker00000")
    evicted = Message.objects.filter(agent=agent, in_context=False)
    assert evicted.exists()
    assert all(request_tokens(body) <= WINDOW for body in fake_llm.chat_requests())
    compactions = [e for e in received if e["type"] == "agent.compaction"]
    assert compactions and compactions[0]["evicted"] > 0
    assert compactions[0]["tokens_after"] < compactions[0]["tokens_before"]
    # The summary is sent right after the system message.
    last = [b for b in fake_llm.chat_requests() if not is_summarizer(b)][-1]
    assert last["messages"][1]["content"].endswith(agent.summary)


def test_eviction_never_separates_a_tool_call_from_its_return(fake_llm, make_agent, send):
    agent = make_agent(context_window_limit=WINDOW)

    def script(body):
        if is_summarizer(body):
            return "summary"
        last = body["messages"][-1]
        if last["role"] == "user":
            return Reply(tool_calls=[ToolCall("conversation_search", {"query": "shade"})])
        return "done"

    fake_llm.default = script
    for i in range(25):
        send(agent, fact(i))
    for body in fake_llm.chat_requests():
        if is_summarizer(body):
            continue
        messages = body["messages"]
        for index, message in enumerate(messages):
            if message["role"] == "tool":
                previous = messages[index - 1]
                assert previous["role"] in ("assistant", "tool")
                owners = [m for m in messages[:index] if m["role"] == "assistant" and m.get("tool_calls")]
                assert any(c["id"] == message["tool_call_id"] for m in owners for c in m["tool_calls"])


def test_a_provider_overflow_compacts_harder_and_retries(fake_llm, make_agent, send):
    agent = make_agent()
    for i in range(6):
        fake_llm.reply(f"r{i}")
        send(agent, fact(i))
    before = Message.objects.filter(agent=agent, in_context=True).count()
    fake_llm.context_overflow()
    fake_llm.default = responder
    run = send(agent, fact(99))
    assert (run.status, run.stop_reason) == (RunStatus.COMPLETED, "end_turn")
    assert Message.objects.filter(agent=agent, in_context=True).count() < before
    assert agent.__class__.objects.get(pk=agent.pk).summary


def test_agent_summarize_forces_a_compaction(fake_llm, make_agent, send):
    agent = make_agent()
    for i in range(4):
        fake_llm.reply(f"r{i}")
        send(agent, fact(i))
    fake_llm.default = responder
    assert agent_summarize(agent=agent) > 0
    agent.refresh_from_db()
    assert agent.summary


def test_a_window_too_small_for_the_system_prompt_fails_clearly(fake_llm, make_agent, send):
    agent = make_agent(
        context_window_limit=1_000, memory_blocks=[{"label": "human", "value": "x " * 1800, "limit": 5000}]
    )
    run = send(agent, "hi")
    assert (run.status, run.stop_reason) == (RunStatus.FAILED, "context_window_overflow_in_system_prompt")
    assert not fake_llm.chat_requests()


@pytest.mark.slow
def test_compaction_soak(fake_llm, make_agent, send):
    """2,000 messages (1,000 sends + 1,000 replies) through a 2,000-token window."""
    agent = make_agent(context_window_limit=WINDOW)
    fake_llm.default = responder
    for i in range(1_000):
        run = send(agent, fact(i))
        assert run.status == RunStatus.COMPLETED, (i, run.stop_reason, run.error)
    assert Message.objects.filter(agent=agent).count() == 2_000
    bodies = fake_llm.chat_requests()
    assert max(request_tokens(body) for body in bodies) <= WINDOW
    agent.refresh_from_db()
    assert agent.summary and "marker" in agent.summary
    evicted = list(Message.objects.filter(agent=agent, in_context=False).order_by("seq"))
    assert len(evicted) > 1_800
    ctx = ToolContext(agent=agent, run_id=None, step_id=None)
    for message in evicted:
        marker = re.search(r"marker\d+", message.text).group(0)
        found = json.loads(conversation_search(ctx, {"query": marker, "limit": 5}))
        assert any(r["content"] == message.text for r in found["results"]), message.text
    assert context.budget_for(agent, MODEL).window == WINDOW
