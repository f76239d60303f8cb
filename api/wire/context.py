"""The context-window overview in the shape of Letta's ContextWindowOverview (GET /v1/agents/{id}/context)."""

from typing import cast

from agents.models import Agent, Message
from agents.runtime.overview import context_overview
from api.wire.blocks import JSON
from api.wire.messages import message_to_internal_wire
from api.wire.types import ContextWindowOverviewWire


def context_window_overview(agent: Agent) -> JSON:
    """agents.runtime.overview in Letta's shape: the system message split into the prompt, the core memory
    (blocks) and the external memory summary (memory metadata), plus the in-context messages and tool schemas
    themselves. Read-only."""
    overview = context_overview(agent=agent)
    rows = Message.objects.filter(agent=agent, conversation__isnull=True, in_context=True, seq__isnull=False)
    rows = rows.defer("embedding").order_by("seq")
    out: ContextWindowOverviewWire = {
        "context_window_size_max": overview.window,
        "context_window_size_current": overview.current,
        "num_messages": overview.messages,
        "num_archival_memory": overview.archival,
        "num_recall_memory": overview.recall,
        "num_tokens_external_memory_summary": overview.tokens_external_memory_summary,
        "external_memory_summary": overview.external_memory_summary,
        "num_tokens_system": overview.tokens_system_prompt,
        "system_prompt": agent.system,
        "num_tokens_core_memory": overview.tokens_core_memory,
        "core_memory": overview.core_memory,
        "num_tokens_summary_memory": overview.tokens_summary,
        "summary_memory": overview.summary or None,
        "num_tokens_functions_definitions": overview.tokens_functions,
        "functions_definitions": overview.functions,
        "num_tokens_messages": overview.tokens_messages,
        "messages": [message_to_internal_wire(m) for m in rows],
    }
    return cast(JSON, out)
