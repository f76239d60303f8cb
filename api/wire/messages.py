"""Letta messages on the wire: one stored Message becomes one or more LettaMessages (reasoning, assistant text,
one tool_call_message per call), sharing the row id (`message-<uuid>`) and told apart by `otid`."""

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from agents.messages import (
    REPLY_KWARG,
    SEND_MESSAGE,
    call_argument,
    call_held,
    parts_text,
    reply_text,
    stored_parts,
    tool_call_fields,
)
from agents.models import (
    Message,
    MessageRole,
)
from api.wire.blocks import JSON, iso
from api.wire.types import LettaMessageWire
from lib.ids import public_id, public_id_or_none


def message_to_internal_wire(message: Message) -> JSON:
    """A stored message in Letta's internal Message shape (ContextWindowOverview.messages), not the LettaMessage
    union: one object per row, with its role, content parts and OpenAI-style tool calls."""
    return {
        "id": public_id("message", message.id),
        "agent_id": public_id("agent", message.agent_id),
        "role": message.role,
        "content": stored_parts(message),
        "text": message.text,
        "name": message.name or None,
        "tool_calls": list(message.tool_calls or []) or None,
        "tool_call_id": message.tool_call_id or None,
        "step_id": public_id_or_none("step", message.step_id),
        "run_id": public_id_or_none("run", message.run_id),
        "otid": message.otid or None,
        "sender_id": message.sender_id or None,
        "is_err": message.is_err or None,
        "model": None,
        "created_at": iso(message.created_at),
    }


def message_search_result(message: Message) -> JSON | None:
    """One result of POST /v1/messages/search (system, user, reasoning or assistant message with its agent id);
    None for a row with nothing of those to show (a tool result, a bare tool call)."""
    base = {
        "message_id": public_id("message", message.id),
        "agent_id": public_id("agent", message.agent_id),
        "conversation_id": public_id_or_none("conv", message.conversation_id),
        "created_at": iso(message.created_at),
    }
    if message.role == MessageRole.SYSTEM:
        return {**base, "message_type": "system_message", "content": parts_text(message)}
    if message.role == MessageRole.USER:
        return {**base, "message_type": "user_message", "content": _content(message)}
    if message.role == MessageRole.ASSISTANT:
        reply = reply_text(message)
        if reply:
            return {**base, "message_type": "assistant_message", "content": reply}
        if message.reasoning:
            return {**base, "message_type": "reasoning_message", "reasoning": message.reasoning}
    return None


def tool_return_to_wire(*, result: str, is_err: bool, name: str, stdout: list[str], stderr: list[str]) -> JSON:
    """A ToolReturnMessage for a tool run outside any agent (POST /v1/tools/run): nothing is stored, so the ids
    are fresh."""
    status = "error" if is_err else "success"
    call_id = f"call-{uuid.uuid4()}"
    out: LettaMessageWire = {
        "id": public_id("message", uuid.uuid4()),
        "message_type": "tool_return_message",
        "date": now_iso(),
        "name": name,
        "otid": None,
        "sender_id": None,
        "step_id": None,
        "run_id": None,
        "is_err": is_err or None,
        "seq_id": None,
        "tool_return": result,
        "status": status,
        "tool_call_id": call_id,
        "stdout": stdout,
        "stderr": stderr,
        "tool_returns": [
            {
                "type": "tool",
                "tool_call_id": call_id,
                "status": status,
                "tool_return": result,
                "stdout": stdout,
                "stderr": stderr,
            }
        ],
    }
    return cast(JSON, out)


@dataclass(frozen=True)
class MessageOptions:
    """How assistant tool calls are presented (Letta's legacy `use_assistant_message` knobs)."""

    use_assistant_message: bool = True
    assistant_message_tool_name: str = SEND_MESSAGE
    assistant_message_tool_kwarg: str = REPLY_KWARG


DEFAULT_OPTIONS = MessageOptions()


def _otid(message: Message, index: int) -> str:
    """A stable offline-threading id per expanded piece: the client's otid for the first piece of its own
    message, else the row's uuid with its last byte replaced by the piece index."""
    if index == 0 and message.otid:
        return message.otid
    return str(message.id)[:-2] + f"{index:02x}"


def _base(message: Message, message_type: str, index: int) -> JSON:
    out: LettaMessageWire = {
        "id": public_id("message", message.id),
        "message_type": message_type,
        "date": iso(message.created_at),
        "name": message.name or None,
        "otid": _otid(message, index),
        "sender_id": message.sender_id or None,
        "step_id": public_id_or_none("step", message.step_id),
        "run_id": public_id_or_none("run", message.run_id),
        "is_err": message.is_err or None,
        "seq_id": message.seq,
    }
    return cast(JSON, out)


def _content(message: Message) -> str | list[JSON]:
    """A string when the content is text only (what the SDK users print), else the parts."""
    parts = stored_parts(message)
    if all(p.get("type", "text") == "text" for p in parts):
        return parts_text(message)
    return parts


def is_run_input(message: Message) -> bool:
    """A run's input (a user message or an approval): left out of the run's own response and stream."""
    return message.role in (MessageRole.USER, MessageRole.APPROVAL)


def message_to_wire(message: Message, options: MessageOptions = DEFAULT_OPTIONS) -> list[JSON]:
    """The LettaMessages of one stored row, in the order the agent produced them."""
    if message.role == MessageRole.SYSTEM:
        return [{**_base(message, "system_message", 0), "content": parts_text(message)}]
    if message.role == MessageRole.USER:
        return [{**_base(message, "user_message", 0), "content": _content(message)}]
    if message.role == MessageRole.APPROVAL:
        return [approval_response_to_wire(message)]
    if message.role == MessageRole.TOOL:
        if options.use_assistant_message and message.name == options.assistant_message_tool_name:
            return []  # the reply itself was shown as an assistant_message
        text = parts_text(message)
        status = "error" if message.is_err else "success"
        return [
            {
                **_base(message, "tool_return_message", 0),
                "tool_return": text,
                "status": status,
                "tool_call_id": message.tool_call_id,
                "stdout": None,
                "stderr": None,
                "tool_returns": [
                    {
                        "type": "tool",
                        "tool_call_id": message.tool_call_id,
                        "status": status,
                        "tool_return": text,
                        "stdout": None,
                        "stderr": None,
                    }
                ],
            }
        ]
    out: list[JSON] = []
    if message.reasoning:
        out.append(
            {
                **_base(message, "reasoning_message", len(out)),
                "reasoning": message.reasoning,
                "source": "non_reasoner_model",
                "signature": None,
            }
        )
    calls = [tool_call_fields(raw) for raw in message.tool_calls or []]
    replies_by_tool = any(c["name"] in (SEND_MESSAGE, options.assistant_message_tool_name) for c in calls)
    text = parts_text(message)
    if text and not replies_by_tool:  # a memgpt row's text repeats what send_message said
        out.append({**_base(message, "assistant_message", len(out)), "content": text})
    held = [call for raw, call in zip(message.tool_calls or [], calls, strict=True) if call_held(raw)]
    for call in calls:
        if call in held:
            continue
        if options.use_assistant_message and call["name"] == options.assistant_message_tool_name:
            reply = call_argument(call["arguments"], options.assistant_message_tool_kwarg)
            if reply is not None:
                out.append({**_base(message, "assistant_message", len(out)), "content": reply})
                continue
        out.append({**_base(message, "tool_call_message", len(out)), "tool_call": call, "tool_calls": [call]})
    if held:  # the calls that waited for an answer: one approval request (Letta shows no tool_call_message)
        out.append({**_base(message, "approval_request_message", len(out)), "tool_call": held[0], "tool_calls": held})
    return out


def approval_response_to_wire(message: Message) -> JSON:
    """A stored approval (role `approval`) as Letta's ApprovalResponseMessage: the answers as given, and the
    deprecated single-answer fields from the first (approval_request_id is its tool call id)."""
    parts = message.content if isinstance(message.content, list) else []
    found: Any = next((p.get("approvals") for p in parts if isinstance(p, dict) and p.get("type") == "approvals"), [])
    answers: list[JSON] = [a for a in found or [] if isinstance(a, dict)]
    first = answers[0] if answers else {}
    return {
        **_base(message, "approval_response_message", 0),
        "approvals": answers,
        "approve": first.get("approve", True) if first.get("type") == "approval" else True,
        "approval_request_id": first.get("tool_call_id") or message.tool_call_id or None,
        "reason": first.get("reason"),
    }


def messages_to_wire(
    messages: Iterable[Message], options: MessageOptions = DEFAULT_OPTIONS, *, types: Iterable[str] | None = None
) -> list[JSON]:
    wanted = set(types) if types else None
    out = [m for message in messages for m in message_to_wire(message, options)]
    return [m for m in out if wanted is None or m["message_type"] in wanted]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
