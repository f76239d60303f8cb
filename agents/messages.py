"""Pure rules on stored messages (no queries, no writes): the text of a row's parts, the fields of its tool calls,
and the reply the user sees. The runtime writes rows by these rules and the wire, the ADE and agent files read
them back through the same functions, so a memgpt reply is one thing everywhere.

How a reply is stored: a v1 agent's reply is its assistant row's text. A memgpt agent answers through the
`send_message` tool; the loop keeps the call and also stores its `message` argument as the row's text (the inner
monologue goes to `reasoning`). Rows written before that, or edited by hand, may carry the reply only in the call."""

import json
from collections.abc import Iterable
from typing import Any, TypedDict

from agents.content import UNREADABLE_IMAGE, image_url
from agents.models import Message

JSON = dict[str, Any]

SEND_MESSAGE = "send_message"  # the tool memgpt agents answer through
REPLY_KWARG = "message"  # its argument that holds the reply


# Set on a stored tool call that waited for approval (or a client's result): the wire shows it as an
# approval_request_message; the model never sees the mark (calls_for_model).
HELD_MARK = "requires_approval"


def calls_for_model(tool_calls: list[JSON]) -> list[JSON]:
    """Stored tool calls as the model gets them back (without Engram's marks)."""
    return [{k: v for k, v in call.items() if k != HELD_MARK} if HELD_MARK in call else call for call in tool_calls]


def call_held(raw: Any) -> bool:
    return isinstance(raw, dict) and raw.get(HELD_MARK) is True


class ToolCallFields(TypedDict):
    name: str
    arguments: str  # JSON text, as the model produced it (may be malformed)
    tool_call_id: str


def tool_call_fields(raw: Any) -> ToolCallFields:
    """{name, arguments, tool_call_id} of a stored tool call, OpenAI-style (`{id, function: {name, arguments}}`)
    or flat (`{name, arguments, tool_call_id}`); anything else reads as an unnamed call."""
    call: JSON = raw if isinstance(raw, dict) else {}
    nested = call.get("function")
    function: JSON = nested if isinstance(nested, dict) else call
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {
        "name": str(function.get("name", "")),
        "arguments": arguments,
        "tool_call_id": str(call.get("id") or call.get("tool_call_id") or ""),
    }


def call_argument(arguments: str, key: str) -> str | None:
    """The string argument `key` of a call's JSON arguments; None when absent, not a string, or unparsable."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return None
    value = parsed.get(key) if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else None


def call_reply(raw: Any, *, tool: str = SEND_MESSAGE, kwarg: str = REPLY_KWARG) -> str | None:
    """What this stored call says to the user: its `kwarg` argument when it calls the reply tool, else None."""
    fields = tool_call_fields(raw)
    return call_argument(fields["arguments"], kwarg) if fields["name"] == tool else None


def calls_reply(calls: Iterable[Any]) -> str:
    """The reply carried by these stored calls: their send_message messages, one per line ('' if none)."""
    return "\n".join(r for r in (call_reply(c) for c in calls) if r is not None)


def reply_text(message: Message) -> str:
    """What the agent said to the user in this row: its text, or for a row whose text is empty (stored before
    the loop kept a memgpt reply as text), what its send_message calls carry."""
    return message.text or calls_reply(message.tool_calls or [])


def stored_parts(message: Message) -> list[JSON]:
    """The row's content parts, readable by the SDKs: a bare string is one text part, and an image part stored
    before parts were checked, with no usable source, becomes a text part saying so."""
    content = message.content
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [
            {"type": "text", "text": UNREADABLE_IMAGE}
            if p.get("type") == "image" and image_url(p.get("source")) is None
            else p
            for p in content
            if isinstance(p, dict)
        ]
    return []


def parts_text(message: Message) -> str:
    """The text of the row's parts (joined as sent); the row's `text` when it has no parts."""
    parts = stored_parts(message)
    if parts:
        return "".join(str(p.get("text", "")) for p in parts if p.get("type", "text") == "text")
    return message.text
