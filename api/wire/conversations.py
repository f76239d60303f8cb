"""Letta's Conversation shape."""

from typing import cast

from agents.models import Conversation
from api.wire.blocks import JSON, iso
from api.wire.types import ConversationWire
from lib.ids import public_id, user_public_id


def conversation_to_wire(conversation: Conversation) -> JSON:
    out: ConversationWire = {
        "id": public_id("conv", conversation.id),
        "agent_id": public_id("agent", conversation.agent_id),
        "summary": conversation.summary or None,
        "description": conversation.description or None,
        "archived": conversation.archived_at is not None,
        "archived_at": iso(conversation.archived_at),
        "hidden": conversation.hidden,
        "last_message_at": iso(conversation.last_message_at),
        "model": conversation.model or None,
        "model_settings": conversation.model_settings or None,
        "context_window_limit": conversation.context_window_limit,
        "in_context_message_ids": None,  # not hydrated (Letta: null = not retrieved)
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
        "created_by_id": user_public_id(conversation.created_by_id),
        "last_updated_by_id": user_public_id(conversation.last_updated_by_id),
    }
    return cast(JSON, out)
