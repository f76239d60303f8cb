import json

from api import wire
from lib.ids import public_id
from tests.factories import unsaved_message as message


def call(name: str, arguments: dict[str, object], call_id: str) -> dict[str, object]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def test_one_stored_assistant_message_expands_to_several_letta_messages() -> None:
    row = message(
        reasoning="thinking",
        text="Let me look.",
        content=[{"type": "text", "text": "Let me look."}],
        tool_calls=[call("a", {"x": 1}, "c1"), call("b", {}, "c2")],
    )
    pieces = wire.message_to_wire(row)
    assert [p["message_type"] for p in pieces] == [
        "reasoning_message",
        "assistant_message",
        "tool_call_message",
        "tool_call_message",
    ]
    assert {p["id"] for p in pieces} == {public_id("message", row.id)}
    assert len({p["otid"] for p in pieces}) == 4
    assert pieces[2]["tool_call"] == {"name": "a", "arguments": '{"x": 1}', "tool_call_id": "c1"}
    assert pieces[3]["tool_calls"] == [pieces[3]["tool_call"]]


def test_send_message_becomes_the_assistant_message_and_its_return_is_hidden() -> None:
    row = message(reasoning="inner", text="Hi!", tool_calls=[call("send_message", {"message": "Hi!"}, "c1")])
    assert [(p["message_type"], p.get("content")) for p in wire.message_to_wire(row)] == [
        ("reasoning_message", None),
        ("assistant_message", "Hi!"),
    ]
    tool_return = message(role="tool", name="send_message", text="Sent.", tool_call_id="c1")
    assert wire.message_to_wire(tool_return) == []
    legacy = wire.MessageOptions(use_assistant_message=False)
    assert [p["message_type"] for p in wire.message_to_wire(row, legacy)] == ["reasoning_message", "tool_call_message"]
    assert wire.message_to_wire(tool_return, legacy)[0]["tool_return"] == "Sent."


def test_user_and_tool_messages() -> None:
    user = message(role="user", text="hello", content=[{"type": "text", "text": "hello"}], otid="client-otid")
    (piece,) = wire.message_to_wire(user)
    assert (piece["message_type"], piece["content"], piece["otid"]) == ("user_message", "hello", "client-otid")
    failed = message(role="tool", name="x", text="Error: boom", tool_call_id="c9", is_err=True)
    (piece,) = wire.message_to_wire(failed)
    assert (piece["status"], piece["tool_returns"][0]["tool_call_id"]) == ("error", "c9")
