"""Typed outputs: the keys of the main wire dicts, one TypedDict per Letta shape (field names as letta-client parses
them). The builders in api.wire fill one of these, so mypy rejects a key added, dropped or misspelt there, and
tests/api/test_wire_types.py checks the OpenAPI components (api.schemas) against these keys, so the documented
schema cannot drift from what is sent. A value the SDK treats as opaque JSON is typed `Any`."""

from typing import Any, NotRequired, TypedDict


class BlockResponseWire(TypedDict):
    id: str
    label: str
    value: str
    limit: int
    description: str | None
    read_only: bool
    metadata: dict[str, Any]
    tags: list[str]
    hidden: None
    is_template: bool
    template_name: str | None
    template_id: None
    base_template_id: None
    deployment_id: None
    entity_id: None
    preserve_on_migration: bool
    project_id: None
    created_by_id: str | None
    last_updated_by_id: str | None
    created_at: str | None
    updated_at: str | None


class ArchiveWire(TypedDict):
    id: str
    name: str
    description: str | None
    metadata: dict[str, Any]
    embedding_config: dict[str, Any] | None
    vector_db_provider: str
    created_by_id: str | None
    last_updated_by_id: str | None
    created_at: str | None
    updated_at: str | None


class PassageWire(TypedDict):
    id: str
    text: str
    embedding: None
    embedding_config: dict[str, Any] | None
    archive_id: str | None
    file_id: None
    file_name: None
    source_id: None
    tags: list[str]
    metadata: dict[str, Any]
    is_deleted: bool
    created_by_id: str | None
    last_updated_by_id: None
    created_at: str | None
    updated_at: str | None


class AgentStateWire(TypedDict):
    id: str
    name: str
    description: str | None
    agent_type: str
    system: str
    model: str
    embedding: str | None
    llm_config: dict[str, Any]
    embedding_config: dict[str, Any] | None
    model_settings: None
    compaction_settings: None
    response_format: None
    blocks: list[dict[str, Any]]
    memory: dict[str, Any]
    tools: list[Any]
    sources: list[Any]
    tags: list[str]
    tool_rules: list[Any]
    message_ids: list[str] | None
    identities: list[dict[str, Any]]
    identity_ids: list[str]
    secrets: list[dict[str, Any]]
    tool_exec_environment_variables: list[dict[str, Any]]
    metadata: dict[str, Any]
    timezone: str
    enable_sleeptime: bool
    multi_agent_group: None
    managed_group: None
    pending_approval: dict[str, Any] | None  # an approval_request_message
    last_run_completion: str | None
    last_run_duration_ms: int | None
    last_stop_reason: str | None
    max_files_open: None
    per_file_view_window_char_limit: None
    message_buffer_autoclear: bool
    hidden: None
    project_id: None
    template_id: None
    base_template_id: None
    deployment_id: None
    entity_id: None
    created_at: str | None
    updated_at: str | None
    created_by_id: str | None
    last_updated_by_id: None


class RunWire(TypedDict):
    id: str
    agent_id: str
    status: str
    stop_reason: str | None
    background: bool
    callback_url: str | None
    callback_sent_at: None
    callback_status_code: None
    callback_error: None
    conversation_id: str | None
    metadata: dict[str, Any]
    request_config: dict[str, Any]
    created_at: str | None
    completed_at: str | None
    total_duration_ns: int | None
    ttft_ns: None
    base_template_id: None


class StepWire(TypedDict):
    id: str
    run_id: str
    agent_id: str
    model: str
    model_handle: str
    model_endpoint: None
    provider_name: str
    provider_category: str
    provider_id: None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    context_window_limit: None
    status: str
    error_type: str | None
    error_data: dict[str, Any] | None
    stop_reason: None
    feedback: str | None
    tags: list[str]
    origin: None
    project_id: None
    trace_id: None
    tid: None
    request_id: None
    messages: list[dict[str, Any]]


class ContextWindowOverviewWire(TypedDict):
    context_window_size_max: int
    context_window_size_current: int
    num_messages: int
    num_archival_memory: int
    num_recall_memory: int
    num_tokens_external_memory_summary: int
    external_memory_summary: str
    num_tokens_system: int
    system_prompt: str
    num_tokens_core_memory: int
    core_memory: str
    num_tokens_summary_memory: int
    summary_memory: str | None
    num_tokens_functions_definitions: int
    functions_definitions: list[dict[str, Any]]
    num_tokens_messages: int
    messages: list[dict[str, Any]]


class LettaMessageWire(TypedDict):
    """One member of the LettaMessage union: the common keys, then each `message_type`'s own."""

    id: str
    message_type: str
    date: str | None
    name: str | None
    otid: str | None
    sender_id: str | None
    step_id: str | None
    run_id: str | None
    is_err: bool | None
    seq_id: int | None
    content: NotRequired[Any]  # system, user, assistant: a string, or the parts of a user message
    reasoning: NotRequired[str]
    source: NotRequired[str]
    signature: NotRequired[str | None]
    tool_call: NotRequired[dict[str, Any]]
    tool_calls: NotRequired[list[dict[str, Any]]]
    tool_return: NotRequired[str]
    status: NotRequired[str]
    tool_call_id: NotRequired[str | None]
    stdout: NotRequired[list[str] | None]
    stderr: NotRequired[list[str] | None]
    tool_returns: NotRequired[list[dict[str, Any]]]
