"""Conversations: threads of one agent, each with its own messages, window and running summary (the agent's
memory is shared). The agent's own history is Letta's `default` conversation and has no row here."""

import datetime as dt
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from agents.models import ACTIVE_RUN_STATUSES, Agent, Conversation, Run
from agents.runtime.context import forget_window
from agents.runtime.history import messages_of
from agents.services.messages import MessageSpec, message_create_many
from agents.services.runs import run_cancel
from lib.providers import handle_clean

MAX_TEXT = 10_000
FIELDS = ("summary", "description", "model", "model_settings", "context_window_limit", "archived", "last_message_at")


def _clean(changes: dict[str, Any]) -> dict[str, Any]:
    """The row's fields from a create/update request (absent keys: unchanged); 422 naming the field."""
    unknown = set(changes) - set(FIELDS) - {"hidden"}
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "is not a conversation field"})
    out: dict[str, Any] = {}
    for key in ("summary", "description"):
        if key in changes:
            value = changes[key] or ""
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise ValidationError({key: f"must be a string of at most {MAX_TEXT} characters"})
            out[key] = value
    if "model" in changes:
        model = changes["model"] or ""
        if not isinstance(model, str):
            raise ValidationError({"model": "must be a provider/model handle such as openai/gpt-4o-mini"})
        if model:
            handle_clean(model, field="model")
        out["model"] = model
    if "model_settings" in changes:
        settings = changes["model_settings"] or {}
        if not isinstance(settings, dict):
            raise ValidationError({"model_settings": "must be an object"})
        out["model_settings"] = settings
    if "context_window_limit" in changes:
        limit = changes["context_window_limit"]
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10**7):
            raise ValidationError({"context_window_limit": "must be a positive integer or null"})
        out["context_window_limit"] = limit
    if "archived" in changes:
        if not isinstance(changes["archived"], bool):
            raise ValidationError({"archived": "must be true or false"})
        out["archived_at"] = timezone.now() if changes["archived"] else None
    if "last_message_at" in changes:
        at = changes["last_message_at"]
        if at is not None and not isinstance(at, dt.datetime):
            raise ValidationError({"last_message_at": "must be a date-time"})
        out["last_message_at"] = at
    if "hidden" in changes:
        if not isinstance(changes["hidden"], bool):
            raise ValidationError({"hidden": "must be true or false"})
        out["hidden"] = changes["hidden"]
    return out


def conversation_create(*, actor: User | None, agent: Agent, **fields: Any) -> Conversation:
    values = _clean(fields)
    values.pop("archived_at", None)
    return Conversation.objects.create(
        organization_id=agent.organization_id, agent=agent, created_by=actor, last_updated_by=actor, **values
    )


def conversation_update(*, actor: User | None, conversation: Conversation, **fields: Any) -> Conversation:
    values = _clean(fields)
    if values:
        for key, value in values.items():
            setattr(conversation, key, value)
        conversation.last_updated_by = actor
        conversation.save(update_fields=[*values, "last_updated_by", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    """Delete a conversation with its messages and runs; its active runs are cancelled first (a worker abandons
    the step in flight). The agent's memory is untouched."""
    with transaction.atomic():
        for run in Run.objects.filter(conversation=conversation, status__in=ACTIVE_RUN_STATUSES):
            run_cancel(run=run)
        agent_id, conversation_id = conversation.agent_id, conversation.pk
        conversation.delete()
        transaction.on_commit(lambda: forget_window(agent_id, conversation_id))


def conversation_fork(
    *,
    actor: User | None,
    agent: Agent,
    source: Conversation | None,
    up_to: uuid.UUID | None = None,
    hidden: bool = False,
) -> Conversation:
    """A new conversation of the agent that starts from the context window of `source` (None: the agent's own
    history): copies of its in-context messages (up to and including the message `up_to`) and its running
    summary. Later sends to either do not reach the other."""
    history = messages_of(agent.pk, source.pk if source else None).filter(in_context=True, seq__isnull=False)
    rows = list(history.order_by("seq"))
    if up_to is not None:
        cut = next((i for i, m in enumerate(rows) if m.pk == up_to), None)
        if cut is None:
            raise ValidationError({"message_id": "is not an in-context message of this conversation"})
        rows = rows[: cut + 1]
    summary = source.context_summary if source else agent.summary
    with transaction.atomic():
        fork = conversation_create(
            actor=actor,
            agent=agent,
            summary=source.summary if source else "",
            description=source.description if source else "",
            hidden=hidden,
        )
        Conversation.objects.filter(pk=fork.pk).update(context_summary=summary)
        fork.context_summary = summary
        specs = [
            MessageSpec(
                role=m.role,
                text=m.text,
                content=m.content,
                reasoning=m.reasoning,
                tool_calls=list(m.tool_calls or []),
                tool_call_id=m.tool_call_id,
                name=m.name,
                sender_id=m.sender_id,
                is_err=m.is_err,
                created_at=m.created_at,
            )
            for m in rows
        ]
        message_create_many(agent=agent, specs=specs, publish=False, conversation_id=fork.pk)
    return fork
