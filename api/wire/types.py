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


class LLMConfigWire(TypedDict):
    model: str
    model_endpoint_type: str
    model_endpoint: str | None
    provider_name: str
    provider_category: str
    handle: str
    display_name: str
    context_window: int
    max_tokens: int | None
    temperature: float
    parallel_tool_calls: bool
    put_inner_thoughts_in_kwargs: bool
    enable_reasoner: bool
    reasoning_effort: str | None
    max_reasoning_tokens: int
    model_wrapper: None
    frequency_penalty: None


class ToolWire(TypedDict):
    id: str
    name: str
    description: str | None
    tool_type: str
    source_type: str
    source_code: str | None
    json_schema: dict[str, Any] | None
    args_json_schema: None
    tags: list[str]
    return_char_limit: int
    metadata_: dict[str, Any]
    pip_requirements: None
    npm_requirements: None
    default_requires_approval: None
    enable_parallel_execution: bool
    project_id: None
    created_by_id: str | None
    last_updated_by_id: None


class SecretWire(TypedDict):
    """AgentEnvironmentVariable."""

    id: str
    agent_id: str
    key: str
    value: str
    description: None
    created_at: str | None
    updated_at: str | None


class IdentityWire(TypedDict):
    id: str
    identifier_key: str
    name: str
    identity_type: str
    project_id: None
    agent_ids: list[str]
    block_ids: list[str]
    properties: list[dict[str, Any]]


class MemoryWire(TypedDict):
    agent_type: str
    blocks: list[dict[str, Any]]
    file_blocks: list[dict[str, Any]]
    git_enabled: bool
    prompt_template: str


class ConversationWire(TypedDict):
    id: str
    agent_id: str
    summary: str | None
    description: str | None
    archived: bool
    archived_at: str | None
    hidden: bool
    last_message_at: str | None
    model: str | None
    model_settings: dict[str, Any] | None
    context_window_limit: int | None
    in_context_message_ids: None
    created_at: str | None
    updated_at: str | None
    created_by_id: str | None
    last_updated_by_id: str | None


class McpServerWire(TypedDict):
    """StdioMcpServer (command, args, env) or SseMcpServer / StreamableHTTPMcpServer (the URL and auth keys)."""

    id: str
    server_name: str
    mcp_server_type: str
    command: NotRequired[str]
    args: NotRequired[list[str]]
    env: NotRequired[dict[str, str] | None]
    server_url: NotRequired[str]
    auth_header: NotRequired[str | None]
    auth_token: NotRequired[str | None]
    custom_headers: NotRequired[dict[str, str] | None]


class UsageStatisticsWire(TypedDict):
    message_type: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    step_count: int
    run_ids: list[str]
    cached_input_tokens: None
    cache_write_tokens: None
    reasoning_tokens: None
    context_tokens: None


class RunMetricsWire(TypedDict):
    id: str
    agent_id: str
    project_id: None
    template_id: None
    base_template_id: None
    run_start_ns: int | None
    run_ns: int | None
    num_steps: int
    tools_used: list[str]


class StepMetricsWire(TypedDict):
    id: str
    agent_id: str
    run_id: str
    provider_id: None
    project_id: None
    template_id: None
    base_template_id: None
    llm_request_ns: int
    llm_request_start_ns: None
    step_start_ns: None
    step_ns: None
    tool_execution_ns: None


class FolderWire(TypedDict):
    """Folder (Source)."""

    id: str
    name: str
    description: str | None
    instructions: str | None
    metadata: dict[str, Any] | None
    embedding_config: dict[str, Any]
    vector_db_provider: str
    created_at: str | None
    updated_at: str | None
    created_by_id: str | None
    last_updated_by_id: str | None


class FileWire(TypedDict):
    """FileMetadata."""

    id: str
    source_id: str
    folder_id: str
    file_name: str
    original_file_name: str
    file_path: None
    file_type: str | None
    file_size: int | None
    file_creation_date: None
    file_last_modified_date: None
    processing_status: str
    error_message: str | None
    total_chunks: int | None
    chunks_embedded: int | None
    content: str | None
    created_at: str | None
    updated_at: str | None


class FileViewWire(TypedDict):
    """An agent's view of one file (AgentFileAttachment)."""

    id: str
    file_id: str
    file_name: str
    folder_id: str
    folder_name: str
    is_open: bool
    start_line: int | None
    end_line: int | None
    last_accessed_at: str | None
    visible_content: str | None


class ChunkWire(TypedDict):
    """A file's chunk as Letta's Passage."""

    id: str
    text: str
    file_id: str
    source_id: str
    archive_id: None
    embedding: None
    embedding_config: dict[str, Any] | None
    metadata: dict[str, Any]
    tags: list[str]
    created_at: str | None
    updated_at: str | None
    organization_id: None
    is_deleted: bool
