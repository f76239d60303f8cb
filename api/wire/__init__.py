"""Letta wire shapes (what the letta-client SDKs parse) built from Engram rows, as plain JSON-ready dicts.

Field names follow letta-client's types exactly; the SDKs parse leniently, so an optional field may be None but
never renamed. By resource: `agents` (agent state, tools, identities, model configs), `blocks` (blocks,
passages), `mcp` (MCP servers), `messages` (LettaMessages), `conversations`, `runs` (runs, steps, metrics, stop
reasons), `context` (the context-window overview). Views import this package (`from api import wire`).
"""

from api.wire.agents import (
    agent_state,
    agent_type_to_wire,
    embedding_config,
    identity_to_wire,
    llm_config,
    memory_to_wire,
    secret_to_wire,
    tool_to_wire,
)
from api.wire.blocks import JSON, archive_to_wire, block_to_wire, iso, passage_to_wire
from api.wire.context import context_window_overview
from api.wire.conversations import conversation_to_wire
from api.wire.mcp import mcp_server_to_wire
from api.wire.messages import (
    DEFAULT_OPTIONS,
    MessageOptions,
    is_run_input,
    message_search_result,
    message_to_internal_wire,
    message_to_wire,
    messages_to_wire,
    now_iso,
    tool_return_to_wire,
)
from api.wire.runs import (
    RUN_STATUS,
    run_metrics_to_wire,
    run_to_wire,
    step_metrics_to_wire,
    step_to_wire,
    usage_statistics,
)

__all__ = [
    "DEFAULT_OPTIONS",
    "JSON",
    "RUN_STATUS",
    "MessageOptions",
    "agent_state",
    "agent_type_to_wire",
    "block_to_wire",
    "context_window_overview",
    "conversation_to_wire",
    "embedding_config",
    "identity_to_wire",
    "iso",
    "llm_config",
    "mcp_server_to_wire",
    "memory_to_wire",
    "message_search_result",
    "message_to_internal_wire",
    "is_run_input",
    "message_to_wire",
    "messages_to_wire",
    "now_iso",
    "passage_to_wire",
    "archive_to_wire",
    "run_metrics_to_wire",
    "run_to_wire",
    "secret_to_wire",
    "step_metrics_to_wire",
    "step_to_wire",
    "tool_return_to_wire",
    "tool_to_wire",
    "usage_statistics",
]
