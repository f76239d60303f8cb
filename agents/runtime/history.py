"""The history a run reads and writes: the agent's own (Letta's `default` conversation: no Conversation row, its
running summary and window version on the agent) or one of its conversations (on the Conversation row). Each has
its own in-context window and running summary; the agent's compiled system message (its memory) is shared."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import F, QuerySet

from agents.model_settings import LETTA_SETTING_KEYS
from agents.models import Agent, Conversation, Message


@dataclass
class History:
    agent: Agent
    conversation_id: uuid.UUID | None = None
    summary: str = ""
    version: int = 0
    # A conversation's own overrides of the agent's model and window (None / "": the agent's).
    window_limit: int | None = None
    model: str = ""

    @classmethod
    def of(cls, agent: Agent, conversation_id: uuid.UUID | None = None, *, fresh: bool = False) -> "History":
        """The history with its summary and version. `fresh`: the agent row was read just now (the agent's own
        history is not read again)."""
        history = cls(agent=agent, conversation_id=conversation_id)
        if fresh and conversation_id is None:
            history.summary, history.version = agent.summary, agent.context_version
        else:
            history.refresh()
        return history

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID | None]:
        return (self.agent.id, self.conversation_id)

    def refresh(self) -> None:
        if self.conversation_id is None:
            version, summary = Agent.objects.values_list("context_version", "summary").get(pk=self.agent.pk)
            self.agent.context_version, self.agent.summary = version, summary
        else:
            version, summary, self.window_limit, self.model = Conversation.objects.values_list(
                "context_version", "context_summary", "context_window_limit", "model"
            ).get(pk=self.conversation_id)
        self.version, self.summary = version, summary

    def messages(self) -> "QuerySet[Message]":
        """All of this history's messages (the caller narrows: in_context, seq …)."""
        return messages_of(self.agent.id, self.conversation_id)

    def summary_store(self, summary: str) -> None:
        """Replace the running summary and bump the window's version (caller is in the eviction's transaction)."""
        if self.conversation_id is None:
            Agent.objects.filter(pk=self.agent.pk).update(summary=summary, context_version=F("context_version") + 1)
            self.agent.summary = summary
        else:
            Conversation.objects.filter(pk=self.conversation_id).update(
                context_summary=summary, context_version=F("context_version") + 1
            )
        self.summary = summary


def messages_of(agent_id: uuid.UUID, conversation_id: uuid.UUID | None) -> "QuerySet[Message]":
    if conversation_id is None:
        return Message.objects.filter(agent_id=agent_id, conversation__isnull=True)
    return Message.objects.filter(agent_id=agent_id, conversation_id=conversation_id)


def conversation_model(conversation_id: uuid.UUID | None) -> tuple[str, dict[str, Any]]:
    """A conversation's own model handle ("" for the agent's own history, or when it has none) and the request
    settings it pins (Letta's `model_settings`: the LETTA_SETTING_KEYS it gives; never an api_base), which go over
    the agent's for that conversation's requests."""
    if conversation_id is None:
        return "", {}
    row = Conversation.objects.filter(pk=conversation_id).values_list("model", "model_settings").first()
    if row is None:
        return "", {}
    model, raw = row
    settings = {key: raw[key] for key in LETTA_SETTING_KEYS if isinstance(raw, dict) and raw.get(key) is not None}
    return model or "", settings
