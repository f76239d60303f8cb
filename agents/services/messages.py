import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from agents.messages import REPLY_KWARG, SEND_MESSAGE
from agents.models import Agent, Conversation, Message, MessageRole
from agents.runtime import events
from agents.runtime.recall import messages_embed_after_commit
from lib.ids import ordered_uuid


@dataclass
class MessageSpec:
    role: str
    text: str = ""
    content: list[dict[str, Any]] | None = None
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_call_id: str = ""
    name: str = ""
    otid: str = ""
    sender_id: str = ""
    is_err: bool = False
    in_context: bool = True
    id: uuid.UUID | None = None  # a predetermined id (see assistant_message_id); a fresh time-ordered one otherwise
    created_at: dt.datetime | None = None  # now, unless the message comes from elsewhere (an imported agent file)


def assistant_message_id(*, run_id: uuid.UUID, step_index: int) -> uuid.UUID:
    """The id of the assistant message a step stores, known before the LLM answers: token deltas streamed
    during the step carry it (the Letta SDKs group deltas by message id), and a resumed step reuses it."""
    return uuid.uuid5(run_id, f"assistant-{step_index}")


def counter_increment(*, agent_id: uuid.UUID, field: str, count: int) -> int:
    """Add `count` to one of the agent's counters and return the new value, in one statement (UPDATE …
    RETURNING, which PostgreSQL and SQLite ≥ 3.35 both have). The row lock is held until the caller commits."""
    if field not in ("message_seq", "run_seq"):
        raise ValueError(field)
    table = Agent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {field} = {field} + %s WHERE id = %s RETURNING {field}",  # noqa: S608 (fixed names)
            [count, Agent._meta.pk.get_db_prep_value(agent_id, connection)],
        )
        row = cursor.fetchone()
    if row is None:
        raise Agent.DoesNotExist(f"agent {agent_id} is gone")
    return int(row[0])


def seq_allocate(*, agent_id: uuid.UUID, count: int) -> int:
    """Reserve `count` consecutive message seqs for the agent and return the first.
    Caller must be inside a transaction: the UPDATE holds the agent row lock until commit."""
    return counter_increment(agent_id=agent_id, field="message_seq", count=count) - count + 1


def text_content(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}] if text else []


@transaction.atomic(savepoint=False)
def message_create_many(
    *,
    agent: Agent,
    specs: Sequence[MessageSpec],
    run_id: uuid.UUID | None = None,
    step_id: uuid.UUID | None = None,
    numbered: bool = True,
    publish: bool = True,
    conversation_id: uuid.UUID | None = None,
) -> list[Message]:
    """Persist messages in order, in the agent's own history or one of its conversations: rows stamped now get
    times a microsecond apart (a step's assistant message has a predetermined id, so ids alone would not order it
    before its tool results); rows of one given time keep their order by their time-ordered ids. `numbered=False`
    leaves seq empty (the input of a queued run); `publish=False` sends no `agent.message` events (a bulk import
    into an agent nobody watches yet)."""
    if not specs:
        return []
    first = seq_allocate(agent_id=agent.id, count=len(specs)) if numbered else None
    now = timezone.now()
    rows = [
        Message(
            id=spec.id or ordered_uuid(),
            organization_id=agent.organization_id,
            agent_id=agent.id,
            conversation_id=conversation_id,
            run_id=run_id,
            step_id=step_id,
            seq=None if first is None else first + i,
            role=spec.role,
            content=spec.content if spec.content is not None else text_content(spec.text),
            text=spec.text,
            reasoning=spec.reasoning,
            tool_calls=spec.tool_calls,
            tool_call_id=spec.tool_call_id,
            name=spec.name,
            otid=spec.otid,
            sender_id=spec.sender_id,
            is_err=spec.is_err,
            in_context=spec.in_context and numbered,
            created_at=spec.created_at or now + dt.timedelta(microseconds=i),
        )
        for i, spec in enumerate(specs)
    ]
    Message.objects.bulk_create(rows)
    if run_id is None:  # a run's messages are embedded together when it ends (runs.run_finish)
        messages_embed_after_commit(rows)
    if numbered and publish:
        for row in rows:
            events.message_created(row)
    return rows


@transaction.atomic
def messages_reset(*, agent: Agent) -> int:
    """Take every message of the agent's own history out of its context window (they stay in recall memory,
    searchable) and drop its running summary; conversations keep theirs. Returns how many messages left."""
    count = Message.objects.filter(agent=agent, conversation=None, in_context=True).update(in_context=False)
    Agent.objects.filter(pk=agent.pk).update(summary="", compiled_hash="", context_version=F("context_version") + 1)
    agent.summary = ""
    agent.compiled_hash = ""
    return count


def agent_summarize(*, agent: Agent, conversation_id: uuid.UUID | None = None) -> int:
    """Force a compaction of the agent's own history or of one of its conversations now (fold the oldest
    in-context messages into its running summary). Returns how many messages left the context window."""
    from agents.runtime import context
    from agents.runtime.history import History

    history = History.of(agent, conversation_id)
    in_context = history.messages().filter(in_context=True)
    before = in_context.count()
    model = history.model or agent.model
    context.prepare(history, model=model, run_id=None, force_compact=True, fresh=True)
    return before - in_context.count()


_EDITABLE = {
    "system_message": MessageRole.SYSTEM,
    "user_message": MessageRole.USER,
    "assistant_message": MessageRole.ASSISTANT,
    "reasoning_message": MessageRole.ASSISTANT,
}


def _edited_text(content: Any) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(content, str):
        text, parts = content, text_content(content)
    elif isinstance(content, list) and content and all(_is_text_part(p) for p in content):
        parts = [{"type": "text", "text": p["text"]} for p in content]
        text = "\n".join(p["text"] for p in parts)
    else:
        raise ValidationError({"content": "must be a string or a non-empty list of {type: text, text} parts"})
    if "\x00" in text:  # PostgreSQL text holds no NUL
        raise ValidationError({"content": "must not contain NUL characters"})
    return text, parts


def _is_text_part(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type", "text") == "text" and isinstance(part.get("text"), str)


@transaction.atomic
def message_update(
    *, message: Message, message_type: str, content: Any = None, reasoning: str | None = None
) -> Message:
    """Edit a stored message as Letta's message update does: the text of a system, user or assistant message
    (for an answer given through send_message, the tool call's `message` too), or an assistant message's
    reasoning. The message keeps its place; an in-context edit bumps the agent's context_version (the next
    step sends the new text), and its vector is dropped and recomputed after commit."""
    role = _EDITABLE.get(message_type)
    if role is None:
        raise ValidationError({"message_type": f"must be one of {', '.join(_EDITABLE)}"})
    locked = Message.objects.select_for_update().get(pk=message.pk)
    if locked.role != role:
        raise ValidationError({"message_type": f"{message_type} does not match this {locked.role} message"})
    if message_type == "reasoning_message":
        if not isinstance(reasoning, str) or "\x00" in reasoning:
            raise ValidationError({"reasoning": "is required for a reasoning_message (a string without NUL)"})
        locked.reasoning = reasoning
        Message.objects.filter(pk=locked.pk).update(reasoning=reasoning)
    else:
        if content is None:
            raise ValidationError({"content": f"is required for a {message_type}"})
        text, parts = _edited_text(content)
        calls = list(locked.tool_calls or [])
        replied_by_tool = False
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and function.get("name") == SEND_MESSAGE:  # the reply lives in the call too
                try:
                    arguments = json.loads(function.get("arguments") or "{}")
                except ValueError:
                    arguments = {}
                arguments = {**arguments, REPLY_KWARG: text} if isinstance(arguments, dict) else {REPLY_KWARG: text}
                function["arguments"] = json.dumps(arguments, ensure_ascii=False)
                replied_by_tool = True
        if not replied_by_tool:
            locked.content = parts
        locked.text, locked.tool_calls = text, calls
        locked.embedding, locked.embedding_model, locked.embedding_dim, locked.embedding_hash = None, "", None, ""
        locked.save(
            update_fields=[
                "content",
                "text",
                "tool_calls",
                "embedding",
                "embedding_model",
                "embedding_dim",
                "embedding_hash",
            ]
        )
        messages_embed_after_commit([locked])
    if locked.in_context:
        bumped = Conversation.objects.filter(id=locked.conversation_id) if locked.conversation_id else None
        if bumped is None:
            Agent.objects.filter(pk=locked.agent_id).update(context_version=F("context_version") + 1)
        else:
            bumped.update(context_version=F("context_version") + 1)
    return locked
