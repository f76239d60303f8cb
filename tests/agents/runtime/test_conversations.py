"""Conversations in the runtime: each has its own history, window and running summary, the agent's memory is
shared; sends to different conversations of one agent run side by side, sends to one conversation in order."""

import time

import pytest

from agents.models import Message, Run, RunStatus
from agents.runtime import context, executor
from agents.runtime.history import History
from agents.runtime.waiting import run_wait
from agents.services.conversations import conversation_create
from agents.services.messages import agent_summarize
from agents.services.runs import run_create
from tests.agents.runtime.test_fairness import most_at_once
from tests.fakes.llm_server import Reply, ToolCall

SLOW = 1.5


def test_each_conversation_has_its_own_window_and_the_memory_is_shared(alice, fake_llm, make_agent, send):
    agent = make_agent()
    first = conversation_create(actor=alice, agent=agent)
    second = conversation_create(actor=alice, agent=agent)
    fake_llm.tool_call("memory_insert", {"label": "human", "new_string": "Likes tea", "insert_line": 0})
    fake_llm.reply("noted")
    send(agent, "remember tea", conversation=first)
    fake_llm.reply("hello there")
    send(agent, "hi from the second", conversation=second)
    fake_llm.reply("default answer")
    send(agent, "hi from the default")

    # The second conversation's request held its own message only, and the memory the first one wrote.
    second_request = fake_llm.chat_requests()[-2]
    texts = [str(m.get("content")) for m in second_request["messages"]]
    assert "Likes tea" in texts[0]
    assert any("hi from the second" in t for t in texts)
    assert not any("remember tea" in t or "default" in t for t in texts[1:])
    default_request = fake_llm.chat_requests()[-1]
    assert not any("remember tea" in str(m.get("content")) for m in default_request["messages"][1:])
    assert [m.text for m in History.of(agent, second.pk).messages().order_by("seq")] == [
        "hi from the second",
        "hello there",
    ]
    assert Message.objects.filter(agent=agent, conversation=None).count() == 2
    assert Run.objects.filter(conversation=first).count() == 1


def test_compacting_a_conversation_leaves_the_others_alone(alice, fake_llm, make_agent, send):
    agent = make_agent()
    conversation = conversation_create(actor=alice, agent=agent)
    for i in range(3):
        fake_llm.reply(f"answer {i}")
        send(agent, f"question {i}", conversation=conversation)
        fake_llm.reply(f"default {i}")
        send(agent, f"default question {i}")
    fake_llm.reply("SUMMARY of the conversation")
    assert agent_summarize(agent=agent, conversation_id=conversation.pk) > 0
    conversation.refresh_from_db()
    agent.refresh_from_db()
    assert conversation.context_summary == "SUMMARY of the conversation" and conversation.context_version == 1
    assert agent.summary == "" and Message.objects.filter(agent=agent, conversation=None, in_context=False).count() == 0
    window = context.in_context_messages(History.of(agent, conversation.pk))
    assert len(window) < 6 and all("default" not in m.payload["content"] for m in window)


@pytest.mark.django_db(transaction=True)
def test_two_conversations_of_one_agent_run_side_by_side_and_one_conversation_in_order(
    alice, fake_llm, make_agent, settings
):
    settings.ENGRAM_RUN_EXECUTOR = "inprocess"
    settings.ENGRAM_INPROCESS_WORKERS = 4
    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 4
    executor.shutdown()
    fake_llm.default = lambda body: Reply(text=f"re: {body['messages'][-1]['content']}", delay=SLOW)
    agent = make_agent()
    first = conversation_create(actor=alice, agent=agent)
    second = conversation_create(actor=alice, agent=agent)
    try:
        # A first run warms the pool up (a worker's first LLM call imports and sets up the client).
        warm = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "warm up"}])
        assert run_wait(run_id=warm.id, timeout=120).status == RunStatus.COMPLETED
        started = time.monotonic()
        runs = [
            run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": f"{name} {i}"}], conversation=c)
            for i in range(3)
            for name, c in (("first", first), ("second", second))
        ]
        done = [run_wait(run_id=r.id, timeout=120) for r in runs]
        elapsed = time.monotonic() - started
    finally:
        executor.shutdown()
    assert [r.status for r in done] == [RunStatus.COMPLETED] * 6
    # Each conversation one run at a time, the two side by side: three rounds, not six.
    for conversation in (first, second):
        theirs = [r for r in done if r.conversation_id == conversation.pk]
        assert most_at_once(theirs) == 1
        assert [r.started_at for r in theirs] == sorted(r.started_at for r in theirs)
    assert most_at_once(done) == 2
    assert elapsed < 6 * SLOW, f"six sends to two conversations took {elapsed:.1f} s (one takes {SLOW} s)"
    # Ordered, never interleaved: each question is followed by its answer, in the order sent.
    for name, conversation in (("first", first), ("second", second)):
        texts = [m.text for m in History.of(agent, conversation.pk).messages().order_by("seq")]
        assert texts == [t for i in range(3) for t in (f"{name} {i}", f"re: {name} {i}")]


def _remember_then_answer(body):
    """Each send: a memory_insert of the user's words into the shared `human` block, then a plain answer."""
    last = body["messages"][-1]
    if last["role"] == "user":
        call = ToolCall("memory_insert", {"label": "human", "new_string": last["content"]})
        return Reply(tool_calls=[call], delay=0.3)
    return Reply(text="noted")


@pytest.mark.django_db(transaction=True)
def test_memory_writes_from_conversations_running_at_once_are_all_kept(alice, fake_llm, make_agent, settings):
    settings.ENGRAM_RUN_EXECUTOR = "inprocess"
    settings.ENGRAM_INPROCESS_WORKERS = 4
    settings.ENGRAM_ORG_MAX_ACTIVE_RUNS = 4
    executor.shutdown()
    fake_llm.default = _remember_then_answer
    agent = make_agent(memory_blocks=[{"label": "human", "value": "", "limit": 5000}])
    conversations = [conversation_create(actor=alice, agent=agent) for _ in range(3)]
    try:
        runs = [
            run_create(
                actor=alice, agent=agent, messages=[{"role": "user", "content": f"fact {i}-{k}"}], conversation=c
            )
            for i in range(2)
            for k, c in enumerate(conversations)
        ]
        done = [run_wait(run_id=r.id, timeout=120) for r in runs]
    finally:
        executor.shutdown()
    assert [r.status for r in done] == [RunStatus.COMPLETED] * 6, [(r.status, r.error) for r in done]
    value = agent.blocks.get(label="human").value
    assert sorted(value.split("\n")) == sorted(f"fact {i}-{k}" for i in range(2) for k in range(3))


def test_a_conversation_s_model_settings_apply_to_its_requests_only(alice, fake_llm, make_agent, send):
    """letta-code pins a model and its settings per conversation (`model`, `model_settings` on create/update)."""
    agent = make_agent(model_settings={"temperature": 0.9})
    pinned = conversation_create(
        actor=alice, agent=agent, model_settings={"provider_type": "openai", "temperature": 0.1}
    )
    fake_llm.reply("cool")
    send(agent, "hi", conversation=pinned)
    fake_llm.reply("warm")
    send(agent, "hi")
    conversation_request, own_request = fake_llm.chat_requests()[-2:]
    assert conversation_request["temperature"] == 0.1
    assert own_request["temperature"] == 0.9
