"""The context-window overview in the shape of Letta's ContextWindowOverview (GET /v1/agents/{id}/context)."""

from agents.models import Agent, Message
from agents.runtime.context import context_overview, core_memory, text_tokens, tool_schemas
from api.wire.blocks import JSON
from api.wire.messages import message_to_internal_wire


def context_window_overview(agent: Agent) -> JSON:
    """context_overview in the shape of Letta's ContextWindowOverview (GET /v1/agents/{id}/context): the system
    message split into the prompt, the core memory (blocks) and the external memory summary (memory metadata),
    plus the in-context messages and tool schemas themselves. Read-only."""
    overview = context_overview(agent)
    model = agent.model
    system = str(overview["system_prompt"])
    core, core_tokens = core_memory(agent, model)
    marker = system.rfind("<memory_metadata>")
    external = system[marker:] if marker >= 0 else ""
    external_tokens = text_tokens(model, {"role": "system", "content": external}) if external else 0
    tools, _ = tool_schemas(agent)
    rows = Message.objects.filter(agent=agent, in_context=True, seq__isnull=False).defer("embedding").order_by("seq")
    return {
        "context_window_size_max": overview["context_window_size_max"],
        "context_window_size_current": overview["context_window_size_current"],
        "num_messages": overview["num_messages"],
        "num_archival_memory": overview["num_archival_memory"],
        "num_recall_memory": overview["num_recall_memory"],
        "num_tokens_external_memory_summary": external_tokens,
        "external_memory_summary": external,
        "num_tokens_system": max(0, int(overview["num_tokens_system"]) - core_tokens - external_tokens),
        "system_prompt": agent.system,
        "num_tokens_core_memory": core_tokens,
        "core_memory": core,
        "num_tokens_summary_memory": overview["num_tokens_summary_memory"],
        "summary_memory": agent.summary or None,
        "num_tokens_functions_definitions": overview["num_tokens_functions_definitions"],
        "functions_definitions": tools,
        "num_tokens_messages": overview["num_tokens_messages"],
        "messages": [message_to_internal_wire(m) for m in rows],
    }
