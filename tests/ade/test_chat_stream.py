"""The chat socket reads token deltas before relaying them (agents.reply_stream): a memgpt agent's inner monologue
streams as reasoning and its send_message reply as reply text, decoded out of the call's JSON as it arrives; the
deltas of other tool calls are not sent. The deltas here are what the runtime publishes (agents.runtime.events)."""

from typing import Any

import pytest
from channels.layers import get_channel_layer

from ade.consumers import agent_group
from agents.services.agents import agent_create
from agents.services.conversations import conversation_create
from agents.services.runs import run_create
from lib.ids import public_id
from tests.ade.test_consumers import communicator, run

pytestmark = pytest.mark.django_db(transaction=True)


def token(agent: Any, run_id: str, kind: str, delta: str, step: int = 0) -> dict[str, Any]:
    return {"type": "agent.token", "agent_id": str(agent.id), "run_id": run_id, "step_index": step, "kind": kind,
            "delta": delta}  # fmt: skip


def relayed(agent: Any, user: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    comm = communicator(agent, user=user)

    async def scenario() -> list[dict[str, Any]]:
        connected, _ = await comm.connect()
        assert connected
        for event in events:
            await get_channel_layer().group_send(agent_group(agent.id), event)
        # A last event that is always relayed marks the end of what the socket sent.
        end = {"type": "agent.step", "agent_id": str(agent.id), "run_id": "end"}
        await get_channel_layer().group_send(agent_group(agent.id), end)
        received = []
        while True:
            frame = await comm.receive_json_from(timeout=5)
            if frame.get("run_id") == "end":
                break
            received.append(frame)
        await comm.disconnect()
        return received

    return run(scenario)


def a_run(alice: Any, agent: Any) -> str:
    """A queued run of the agent (the fake_llm fixture keeps it queued): the deltas below are its."""
    return public_id("run", run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "hi"}]).id)


def test_a_memgpt_reply_streams_as_reply_text_and_its_monologue_as_reasoning(alice: Any, fake_llm: Any) -> None:
    agent = agent_create(actor=alice, name="Mem", model="openai/gpt-4o-mini", agent_type="memgpt_agent")
    run_id = a_run(alice, agent)
    arguments = ['{"mess', 'age": "Caf\\u00e9', ' \\"au', ' lait\\"\\n', 'ok", "x": "no"}']
    frames = relayed(
        agent,
        alice,
        [token(agent, run_id, "content", "Answer kindly.")]
        + [token(agent, run_id, "tool_name", "send_message")]
        + [token(agent, run_id, "tool_call", piece) for piece in arguments],
    )
    assert [(f["kind"], f["delta"]) for f in frames] == [
        ("reasoning", "Answer kindly."),
        ("reply", "Caf\u00e9"),
        ("reply", ' "au'),
        ("reply", ' lait"\n'),
        ("reply", "ok"),
    ]
    assert {(f["run_id"], f["conversation"]) for f in frames} == {(run_id, "")}


def test_other_tool_calls_stream_nothing_and_a_v1_agents_content_is_its_reply(alice: Any, fake_llm: Any) -> None:
    memgpt = agent_create(actor=alice, name="Mem", model="openai/gpt-4o-mini", agent_type="memgpt_agent")
    run_id = a_run(alice, memgpt)
    events = [token(memgpt, run_id, "tool_name", "archival_memory_insert"), token(memgpt, run_id, "tool_call", '{"c')]
    assert relayed(memgpt, alice, events) == []
    v1 = agent_create(actor=alice, name="V1", model="openai/gpt-4o-mini")
    run_id = a_run(alice, v1)
    frames = relayed(v1, alice, [token(v1, run_id, "reasoning", "Hm."), token(v1, run_id, "content", "Hello")])
    assert [(f["kind"], f["delta"]) for f in frames] == [("reasoning", "Hm."), ("reply", "Hello")]


def test_each_delta_names_its_runs_conversation_and_an_outsider_hears_none(
    alice: Any, charlie: Any, fake_llm: Any
) -> None:
    agent = agent_create(actor=alice, name="V1", model="openai/gpt-4o-mini")
    chat = conversation_create(actor=alice, agent=agent, summary="Side chat")
    own = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "a"}])
    side = run_create(actor=alice, agent=agent, messages=[{"role": "user", "content": "b"}], conversation=chat)
    events = [
        token(agent, public_id("run", own.id), "content", "A"),
        token(agent, public_id("run", side.id), "content", "B"),
    ]
    frames = relayed(agent, alice, events)
    assert [(f["delta"], f["conversation"]) for f in frames] == [("A", ""), ("B", str(chat.id))]
    assert run(_refused, communicator(agent, user=charlie)) == (False, 4403)


async def _refused(comm: Any) -> tuple[bool, int | None]:
    connected, code = await comm.connect()
    await comm.disconnect()
    return connected, code


def test_a_dropped_delta_stops_its_text_and_a_socket_joining_midway_starts_where_it_joined(
    alice: Any, fake_llm: Any
) -> None:
    agent = agent_create(actor=alice, name="Plain", model="openai/gpt-4o-mini")
    run_id = a_run(alice, agent)

    def at(offset: int, delta: str, step: int = 0) -> dict[str, Any]:
        return {**token(agent, run_id, "content", delta, step=step), "offset": offset}

    # Step 0: the socket sees the text from its start, then "lo, " (offset 3) goes missing: nothing after the gap
    # is shown (the stored message brings the whole text). Step 1: the socket's first delta starts at 6, mid-way.
    frames = relayed(
        agent,
        alice,
        [at(0, "Hel"), at(5, "wor"), at(8, "ld")] + [at(6, "ther", step=1), at(10, "e!", step=1)],
    )
    assert [(f["step_index"], f["delta"]) for f in frames] == [(0, "Hel"), (1, "ther"), (1, "e!")]
