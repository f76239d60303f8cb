"""Letta wire shapes (what the letta-client SDKs parse) built from Engram rows, as plain JSON-ready dicts.

Used by the REST API and reusable by anything else that speaks Letta's format (the ADE, exports). Field names
follow letta-client's types exactly; the SDKs parse leniently, so an optional field may be None but never renamed.

One stored Message can become several LettaMessages: an assistant row with reasoning and N tool calls expands to
a reasoning_message, then an assistant_message for its text, then one tool_call_message per call. The pieces
share the row's id (`message-<uuid>`) and differ by `otid`.
"""

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agents.content import UNREADABLE_IMAGE, image_url
from agents.models import (
    Agent,
    AgentSecret,
    AgentType,
    Identity,
    Message,
    MessageRole,
    Run,
    RunStatus,
    Step,
    Tool,
)
from config import providers
from config.crypto import decrypt
from memory.models import Block
from memory.wire import JSON, block_to_wire, iso, passage_to_wire, user_public_id

__all__ = [
    "JSON",
    "MessageOptions",
    "agent_state",
    "agent_type_to_wire",
    "block_to_wire",
    "embedding_config",
    "llm_config",
    "memory_to_wire",
    "message_search_result",
    "message_to_internal_wire",
    "message_to_wire",
    "messages_to_wire",
    "passage_to_wire",
    "run_metrics_to_wire",
    "run_to_wire",
    "step_metrics_to_wire",
    "step_to_wire",
    "stop_reason_to_wire",
    "tool_return_to_wire",
    "tool_to_wire",
    "usage_statistics",
]

DEFAULT_WIRE_AGENT_TYPE: dict[str, str] = {AgentType.V1: "letta_v1_agent", AgentType.MEMGPT: "memgpt_v2_agent"}

# Letta's provider names for litellm prefixes; anything else is reported as OpenAI-compatible.
ENDPOINT_TYPES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google_ai",
    "vertex_ai": "google_vertex",
    "azure": "azure",
    "groq": "groq",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "mistral": "mistral",
    "together_ai": "together",
    "bedrock": "bedrock",
    "deepseek": "deepseek",
    "xai": "xai",
    "openrouter": "openrouter",
    "fireworks_ai": "fireworks",
    "lm_studio": "lmstudio",
    "hosted_vllm": "vllm",
}
EMBEDDING_DIMS = {
    "local/all-minilm-l6-v2": 384,
    "local/all-minilm-l6-v2-int8": 384,
    "openai/text-embedding-3-small": 1536,
    "openai/text-embedding-3-large": 3072,
    "openai/text-embedding-ada-002": 1536,
}
STOP_REASONS = {
    "end_turn",
    "error",
    "llm_api_error",
    "invalid_llm_response",
    "invalid_tool_call",
    "max_steps",
    "max_tokens_exceeded",
    "no_tool_call",
    "tool_rule",
    "cancelled",
    "requires_approval",
}
RUN_STATUS = {
    RunStatus.QUEUED: "created",
    RunStatus.RUNNING: "running",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
}


def agent_type_to_wire(agent: Agent) -> str:
    return agent.agent_type_alias or DEFAULT_WIRE_AGENT_TYPE.get(agent.agent_type, "letta_v1_agent")


def _provider(handle: str) -> tuple[str, str]:
    provider, _, name = handle.partition("/")
    return (provider, name) if name else ("openai", provider)


def llm_config(agent: Agent) -> JSON:
    provider, name = _provider(agent.model)
    ms = agent.model_settings or {}
    return {
        "model": name,
        "model_endpoint_type": ENDPOINT_TYPES.get(provider, "openai"),
        # The provider's public URL, or null: an operator's internal base URL is not shown to members.
        "model_endpoint": providers.endpoint_public(agent.model, ms),
        "provider_name": provider,
        "provider_category": "base",
        "handle": agent.model,
        "display_name": name,
        "context_window": agent.context_window_limit,
        "max_tokens": ms.get("max_tokens") or ms.get("max_output_tokens"),
        "temperature": ms.get("temperature", 0.7),
        "parallel_tool_calls": ms.get("parallel_tool_calls", False),
        "put_inner_thoughts_in_kwargs": agent.agent_type == AgentType.MEMGPT,
        "enable_reasoner": bool(ms.get("enable_reasoner", False)),
        "reasoning_effort": ms.get("reasoning_effort"),
        "max_reasoning_tokens": ms.get("max_reasoning_tokens", 0),
        "model_wrapper": None,
        "frequency_penalty": None,
    }


def embedding_config(handle: str) -> JSON | None:
    if not handle:
        return None
    provider, name = _provider(handle)
    return {
        "embedding_endpoint_type": "hugging-face" if provider == "local" else ENDPOINT_TYPES.get(provider, "openai"),
        "embedding_endpoint": None if provider == "local" else providers.endpoint_public(handle, {}),
        "embedding_model": name,
        "embedding_dim": EMBEDDING_DIMS.get(handle, 1536),
        "embedding_chunk_size": 300,
        "handle": handle,
        "batch_size": 32,
    }


def tool_to_wire(tool: Tool) -> JSON:
    return {
        "id": f"tool-{tool.id}",
        "name": tool.name,
        "description": tool.description,
        "tool_type": tool.tool_type,
        "source_type": "python",
        "source_code": tool.source_code or None,
        "json_schema": tool.json_schema or None,
        "args_json_schema": None,
        "tags": list(tool.tags or []),
        "return_char_limit": tool.return_char_limit,
        "metadata_": tool.metadata or {},
        "pip_requirements": None,
        "npm_requirements": None,
        "default_requires_approval": None,
        "enable_parallel_execution": False,
        "project_id": None,
        "created_by_id": user_public_id(tool.created_by_id),
        "last_updated_by_id": None,
    }


def secret_to_wire(row: AgentSecret) -> JSON:
    """AgentEnvironmentVariable. The value is shown to the organization's members, who could read it from a tool
    anyway; it is encrypted at rest."""
    return {
        "id": f"agent-env-{row.id}",
        "agent_id": f"agent-{row.agent_id}",
        "key": row.key,
        "value": decrypt(row.value_encrypted),
        "description": None,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def identity_to_wire(identity: Identity) -> JSON:
    """Identity; reads `agent_links` and `block_links` (prefetch them in lists)."""
    agent_links = sorted(identity.agent_links.all(), key=lambda link: (link.created_at, link.pk))
    block_links = sorted(identity.block_links.all(), key=lambda link: (link.created_at, link.pk))
    return {
        "id": f"identity-{identity.id}",
        "identifier_key": identity.identifier_key,
        "name": identity.name,
        "identity_type": identity.identity_type,
        "project_id": None,
        "agent_ids": [f"agent-{link.agent_id}" for link in agent_links],
        "block_ids": [f"block-{link.block_id}" for link in block_links],
        "properties": list(identity.properties or []),
    }


def agent_state(
    agent: Agent,
    *,
    blocks: Iterable[Block] | None = None,
    tools: Iterable[Tool] | None = None,
    tags: Iterable[str] | None = None,
    message_ids: Iterable[uuid.UUID] | None = None,
) -> JSON:
    """AgentState. Relations not given are read from the agent (prefetch `blocks`, `tools`, `tag_rows`,
    `secret_rows` and `identities` with their links in lists)."""
    block_rows = list(blocks) if blocks is not None else list(agent.blocks.all())
    tool_rows = list(tools) if tools is not None else list(agent.tools.all())
    tag_list = sorted(tags) if tags is not None else sorted(t.tag for t in agent.tag_rows.all())
    wire_blocks = [block_to_wire(b) for b in block_rows]
    wire_type = agent_type_to_wire(agent)
    secrets = [secret_to_wire(row) for row in sorted(agent.secret_rows.all(), key=lambda row: row.key)]
    memory = memory_to_wire(agent, wire_blocks)
    identities = [identity_to_wire(i) for i in agent.identities.all()]
    return {
        "id": f"agent-{agent.id}",
        "name": agent.name,
        "description": agent.description or None,
        "agent_type": wire_type,
        "system": agent.system,
        "model": agent.model,
        "embedding": agent.embedding or None,
        "llm_config": llm_config(agent),
        "embedding_config": embedding_config(agent.embedding),
        "model_settings": None,
        "compaction_settings": None,
        "response_format": None,
        "blocks": wire_blocks,
        "memory": memory,
        "tools": [tool_to_wire(t) for t in tool_rows],
        "sources": [],
        "tags": tag_list,
        "tool_rules": list(agent.tool_rules or []),
        "message_ids": [f"message-{m}" for m in message_ids] if message_ids is not None else None,
        "identities": identities,
        "identity_ids": [i["id"] for i in identities],
        "secrets": secrets,
        "tool_exec_environment_variables": secrets,
        "metadata": agent.metadata or {},
        "timezone": agent.timezone,
        "enable_sleeptime": False,
        "multi_agent_group": None,
        "managed_group": None,
        "pending_approval": None,
        "last_run_completion": iso(agent.last_run_completion),
        "last_run_duration_ms": agent.last_run_duration_ms,
        "last_stop_reason": stop_reason_to_wire(agent.last_stop_reason),
        "max_files_open": None,
        "per_file_view_window_char_limit": None,
        "message_buffer_autoclear": False,
        "hidden": None,
        "project_id": None,
        "template_id": None,
        "base_template_id": None,
        "deployment_id": None,
        "entity_id": None,
        "created_at": iso(agent.created_at),
        "updated_at": iso(agent.updated_at),
        "created_by_id": user_public_id(agent.created_by_id),
        "last_updated_by_id": None,
    }


def memory_to_wire(agent: Agent, wire_blocks: list[JSON]) -> JSON:
    """The deprecated Memory object (AgentState.memory, GET /agents/{id}/core-memory)."""
    return {
        "agent_type": agent_type_to_wire(agent),
        "blocks": wire_blocks,
        "file_blocks": [],
        "git_enabled": False,
        "prompt_template": "",
    }


def stop_reason_to_wire(reason: str) -> str | None:
    if not reason:
        return None
    return reason if reason in STOP_REASONS else "error"


def run_to_wire(run: Run) -> JSON:
    duration = None
    if run.started_at and run.completed_at:
        duration = int((run.completed_at - run.started_at).total_seconds() * 1e9)
    options = run.options or {}
    return {
        "id": f"run-{run.id}",
        "agent_id": f"agent-{run.agent_id}",
        "status": RUN_STATUS.get(RunStatus(run.status), "created"),
        "stop_reason": stop_reason_to_wire(run.stop_reason),
        "background": bool(options.get("background", False)),
        "callback_url": run.callback_url or None,
        "callback_sent_at": None,
        "callback_status_code": None,
        "callback_error": None,
        "conversation_id": None,
        "metadata": {"error": run.error} if run.error else {},
        "request_config": {
            "use_assistant_message": options.get("use_assistant_message", True),
            "assistant_message_tool_name": options.get("assistant_message_tool_name", "send_message"),
            "assistant_message_tool_kwarg": options.get("assistant_message_tool_kwarg", "message"),
            "include_return_message_types": options.get("include_return_message_types"),
        },
        "created_at": iso(run.created_at),
        "completed_at": iso(run.completed_at),
        "total_duration_ns": duration,
        "ttft_ns": None,
        "base_template_id": None,
    }


def usage_statistics(runs: Iterable[Run]) -> JSON:
    rows = list(runs)
    prompt = sum(r.prompt_tokens for r in rows)
    completion = sum(r.completion_tokens for r in rows)
    return {
        "message_type": "usage_statistics",
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "step_count": sum(r.step_count for r in rows),
        "run_ids": [f"run-{r.id}" for r in rows],
        "cached_input_tokens": None,
        "cache_write_tokens": None,
        "reasoning_tokens": None,
        "context_tokens": None,
    }


def run_metrics_to_wire(run: Run, tools_used: Iterable[Tool]) -> JSON:
    """RunMetrics. Times in nanoseconds: the start is when a worker claimed the run, the duration runs to its end."""
    start = int(run.started_at.timestamp() * 1e9) if run.started_at else None
    duration = None
    if run.started_at and run.completed_at:
        duration = int((run.completed_at - run.started_at).total_seconds() * 1e9)
    return {
        "id": f"run-{run.id}",
        "agent_id": f"agent-{run.agent_id}",
        "project_id": None,
        "template_id": None,
        "base_template_id": None,
        "run_start_ns": start,
        "run_ns": duration,
        "num_steps": run.step_count,
        "tools_used": [f"tool-{t.id}" for t in tools_used],
    }


def step_metrics_to_wire(step: Step) -> JSON:
    """StepMetrics: Engram times the LLM request of a step (with its context preparation), not its tools."""
    return {
        "id": f"step-{step.id}",
        "agent_id": f"agent-{step.agent_id}",
        "run_id": f"run-{step.run_id}",
        "provider_id": None,
        "project_id": None,
        "template_id": None,
        "base_template_id": None,
        "llm_request_ns": step.latency_ms * 1_000_000,
        "llm_request_start_ns": None,
        "step_start_ns": None,
        "step_ns": None,
        "tool_execution_ns": None,
    }


def message_to_internal_wire(message: Message) -> JSON:
    """A stored message in Letta's internal Message shape (ContextWindowOverview.messages), not the LettaMessage
    union: one object per row, with its role, content parts and OpenAI-style tool calls."""
    return {
        "id": f"message-{message.id}",
        "agent_id": f"agent-{message.agent_id}",
        "role": message.role,
        "content": _parts(message),
        "text": message.text,
        "name": message.name or None,
        "tool_calls": list(message.tool_calls or []) or None,
        "tool_call_id": message.tool_call_id or None,
        "step_id": f"step-{message.step_id}" if message.step_id else None,
        "run_id": f"run-{message.run_id}" if message.run_id else None,
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
        "message_id": f"message-{message.id}",
        "agent_id": f"agent-{message.agent_id}",
        "conversation_id": None,
        "created_at": iso(message.created_at),
    }
    if message.role == MessageRole.SYSTEM:
        return {**base, "message_type": "system_message", "content": _text(message)}
    if message.role == MessageRole.USER:
        return {**base, "message_type": "user_message", "content": _content(message)}
    if message.role == MessageRole.ASSISTANT:
        if message.text:  # the reply (for memgpt rows: what send_message said)
            return {**base, "message_type": "assistant_message", "content": message.text}
        if message.reasoning:
            return {**base, "message_type": "reasoning_message", "reasoning": message.reasoning}
    return None


def tool_return_to_wire(*, result: str, is_err: bool, name: str, stdout: list[str], stderr: list[str]) -> JSON:
    """A ToolReturnMessage for a tool run outside any agent (POST /v1/tools/run): nothing is stored, so the ids
    are fresh."""
    status = "error" if is_err else "success"
    call_id = f"call-{uuid.uuid4()}"
    return {
        "id": f"message-{uuid.uuid4()}",
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


def step_to_wire(step: Step) -> JSON:
    provider, _ = _provider(step.model)
    return {
        "id": f"step-{step.id}",
        "run_id": f"run-{step.run_id}",
        "agent_id": f"agent-{step.agent_id}",
        "model": step.model,
        "model_handle": step.model,
        "model_endpoint": None,
        "provider_name": provider,
        "provider_category": "base",
        "provider_id": None,
        "prompt_tokens": step.prompt_tokens,
        "completion_tokens": step.completion_tokens,
        "total_tokens": step.prompt_tokens + step.completion_tokens,
        "context_window_limit": None,
        "status": "failed" if step.error else "success",
        "error_type": "step_error" if step.error else None,
        "error_data": {"message": step.error} if step.error else None,
        "stop_reason": None,
        "feedback": step.feedback or None,
        "tags": list(step.feedback_tags or []),
        "origin": None,
        "project_id": None,
        "trace_id": None,
        "tid": None,
        "request_id": None,
        "messages": [],
    }


@dataclass(frozen=True)
class MessageOptions:
    """How assistant tool calls are presented (Letta's legacy `use_assistant_message` knobs)."""

    use_assistant_message: bool = True
    assistant_message_tool_name: str = "send_message"
    assistant_message_tool_kwarg: str = "message"


DEFAULT_OPTIONS = MessageOptions()


def _otid(message: Message, index: int) -> str:
    """A stable offline-threading id per expanded piece: the client's otid for the first piece of its own
    message, else the row's uuid with its last byte replaced by the piece index."""
    if index == 0 and message.otid:
        return message.otid
    return str(message.id)[:-2] + f"{index:02x}"


def _base(message: Message, message_type: str, index: int) -> JSON:
    return {
        "id": f"message-{message.id}",
        "message_type": message_type,
        "date": iso(message.created_at),
        "name": message.name or None,
        "otid": _otid(message, index),
        "sender_id": message.sender_id or None,
        "step_id": f"step-{message.step_id}" if message.step_id else None,
        "run_id": f"run-{message.run_id}" if message.run_id else None,
        "is_err": message.is_err or None,
        "seq_id": message.seq,
    }


def _parts(message: Message) -> list[JSON]:
    content = message.content
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        # An image part stored before parts were checked, with no usable source, would fail the SDKs' parsing.
        return [
            {"type": "text", "text": UNREADABLE_IMAGE}
            if p.get("type") == "image" and image_url(p.get("source")) is None
            else p
            for p in content
            if isinstance(p, dict)
        ]
    return []


def _text(message: Message) -> str:
    parts = _parts(message)
    if parts:
        return "".join(str(p.get("text", "")) for p in parts if p.get("type", "text") == "text")
    return message.text


def _content(message: Message) -> str | list[JSON]:
    """A string when the content is text only (what the SDK users print), else the parts."""
    parts = _parts(message)
    if all(p.get("type", "text") == "text" for p in parts):
        return _text(message)
    return parts


def tool_call_fields(raw: Any) -> JSON:
    """{name, arguments (JSON string), tool_call_id} from an OpenAI-style or flat stored tool call."""
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


def _assistant_kwarg(arguments: str, kwarg: str) -> str | None:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return None
    value = parsed.get(kwarg) if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else None


def message_to_wire(message: Message, options: MessageOptions = DEFAULT_OPTIONS) -> list[JSON]:
    """The LettaMessages of one stored row, in the order the agent produced them."""
    if message.role == MessageRole.SYSTEM:
        return [{**_base(message, "system_message", 0), "content": _text(message)}]
    if message.role == MessageRole.USER:
        return [{**_base(message, "user_message", 0), "content": _content(message)}]
    if message.role == MessageRole.TOOL:
        if options.use_assistant_message and message.name == options.assistant_message_tool_name:
            return []  # the reply itself was shown as an assistant_message
        text = _text(message)
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
    replies_by_tool = any(c["name"] in ("send_message", options.assistant_message_tool_name) for c in calls)
    text = _text(message)
    if text and not replies_by_tool:  # a memgpt row's text repeats what send_message said
        out.append({**_base(message, "assistant_message", len(out)), "content": text})
    for call in calls:
        if options.use_assistant_message and call["name"] == options.assistant_message_tool_name:
            reply = _assistant_kwarg(call["arguments"], options.assistant_message_tool_kwarg)
            if reply is not None:
                out.append({**_base(message, "assistant_message", len(out)), "content": reply})
                continue
        out.append({**_base(message, "tool_call_message", len(out)), "tool_call": call, "tool_calls": [call]})
    return out


def messages_to_wire(
    messages: Iterable[Message], options: MessageOptions = DEFAULT_OPTIONS, *, types: Iterable[str] | None = None
) -> list[JSON]:
    wanted = set(types) if types else None
    out = [m for message in messages for m in message_to_wire(message, options)]
    return [m for m in out if wanted is None or m["message_type"] in wanted]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
