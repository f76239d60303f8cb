"""The reply of a stored message has one home, agents.messages; the loop writes by it, and the wire, message
search, the ADE and agent files read by it."""

import json

import pytest

from ade import presenters
from agents.messages import call_reply, calls_reply, parts_text, reply_text, tool_call_fields
from agents.models import Message, MessageRole
from api import wire
from tests.factories import unsaved_message as row
from tests.fakes.llm_server import Reply, ToolCall


def send_message(text: object, call_id: str = "c1") -> dict[str, object]:
    arguments = json.dumps({"message": text})
    return {"id": call_id, "type": "function", "function": {"name": "send_message", "arguments": arguments}}


def test_the_reply_is_the_rows_text_else_what_send_message_carries() -> None:
    assert reply_text(row(text="Hi!", tool_calls=[send_message("Hi!")])) == "Hi!"
    assert reply_text(row(tool_calls=[send_message("one"), send_message("two", "c2")])) == "one\ntwo"
    assert reply_text(row(tool_calls=[send_message(3), {"function": {"name": "send_message", "arguments": "{"}}])) == ""
    assert call_reply({"name": "other", "arguments": '{"message": "x"}'}) is None
    assert call_reply({"name": "send_message", "arguments": {"message": "flat"}}) == "flat"
    assert calls_reply(["junk", None]) == ""


def test_tool_call_fields_read_openai_and_flat_calls() -> None:
    assert tool_call_fields({"id": "c1", "function": {"name": "a", "arguments": {"x": 1}}}) == {
        "name": "a",
        "arguments": '{"x": 1}',
        "tool_call_id": "c1",
    }
    assert tool_call_fields({"name": "b", "arguments": "{}", "tool_call_id": "c2"})["tool_call_id"] == "c2"
    assert tool_call_fields("junk") == {"name": "", "arguments": "", "tool_call_id": ""}


def test_parts_text_joins_text_parts_and_falls_back_to_the_text() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "image", "source": {"type": "url"}}, {"type": "text", "text": "b"}]
    assert parts_text(row(content=parts)) == "a[an image that could not be read]b"
    assert parts_text(row(content=[], text="plain")) == "plain"


def test_every_reader_shows_a_reply_kept_only_in_its_call_once() -> None:
    # A memgpt row stored before the loop kept the reply as text: the wire, message search and the ADE agree.
    legacy = row(reasoning="inner", tool_calls=[send_message("Hello Ada!")])
    assert [(m["message_type"], m.get("content")) for m in wire.message_to_wire(legacy)] == [
        ("reasoning_message", None),
        ("assistant_message", "Hello Ada!"),
    ]
    found = wire.message_search_result(legacy)
    assert found is not None and (found["message_type"], found["content"]) == ("assistant_message", "Hello Ada!")
    item = presenters.chat_item(legacy)
    assert (item.text, item.tool_calls) == ("Hello Ada!", [])


@pytest.mark.django_db
def test_the_loop_stores_a_memgpt_reply_as_the_rows_text(fake_llm, make_agent, send) -> None:
    agent = make_agent(agent_type="memgpt")
    fake_llm.push(Reply(text="Greet her.", tool_calls=[ToolCall("send_message", {"message": "Hello Ada!"})]))
    run = send(agent, "hi")
    stored = Message.objects.get(run=run, role=MessageRole.ASSISTANT)
    assert (stored.text, stored.reasoning, reply_text(stored)) == ("Hello Ada!", "Greet her.", "Hello Ada!")
    found = wire.message_search_result(stored)
    assert found is not None and found["content"] == "Hello Ada!"
