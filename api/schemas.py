"""Response shapes for the OpenAPI schema. Views build responses with api.wire; these serializers only
document them (field names as letta-client parses them)."""

from typing import Any

from rest_framework import serializers

from agents.models import StopReason
from files.models import File

S = serializers
# Every `message_type` of the SDK's Message union (letta-client 1.12.1's MessageType): what a message read can
# return and what `include_return_message_types` may name.
MESSAGE_TYPES = [
    "system_message",
    "user_message",
    "assistant_message",
    "reasoning_message",
    "hidden_reasoning_message",
    "tool_call_message",
    "tool_return_message",
    "approval_request_message",
    "approval_response_message",
    "summary_message",
    "event_message",
]


class BlockOutput(S.Serializer[Any]):
    """BlockResponse as letta-client parses it (documentation only; responses come from api.wire)."""

    id = S.CharField()
    label = S.CharField()  # type: ignore[assignment]  # a Field attribute in the stubs
    value = S.CharField()
    limit = S.IntegerField()
    description = S.CharField(allow_null=True)
    read_only = S.BooleanField()  # type: ignore[assignment]  # a Field attribute in the stubs
    metadata = S.DictField()
    tags = S.ListField(child=S.CharField())
    is_template = S.BooleanField()
    template_name = S.CharField(allow_null=True)
    created_by_id = S.CharField(allow_null=True)
    last_updated_by_id = S.CharField(allow_null=True)


class BlockUpdateInput(S.Serializer[Any]):
    value = S.CharField(required=False, allow_blank=True, trim_whitespace=False)
    label = S.CharField(required=False, max_length=100)  # type: ignore[assignment]  # a Field attribute in the stubs
    limit = S.IntegerField(required=False, min_value=1)
    description = S.CharField(required=False, allow_blank=True, allow_null=True)
    read_only = S.BooleanField(required=False)  # type: ignore[assignment]  # a Field attribute in the stubs
    metadata = S.DictField(required=False)
    tags = S.ListField(child=S.CharField(), required=False)


BlockSchema = BlockOutput


class ToolSchema(S.Serializer[Any]):
    id = S.CharField()
    name = S.CharField()
    description = S.CharField(allow_null=True)
    tool_type = S.CharField()
    source_type = S.CharField()
    source_code = S.CharField(allow_null=True)
    json_schema = S.DictField(allow_null=True)
    tags = S.ListField(child=S.CharField())
    return_char_limit = S.IntegerField()
    metadata_ = S.DictField()


class McpServerSchema(S.Serializer[Any]):
    """StdioMcpServer (command, args, env), SseMcpServer or StreamableHTTPMcpServer (server_url, auth_header,
    auth_token, custom_headers); secret values are masked."""

    id = S.CharField()
    server_name = S.CharField()
    mcp_server_type = S.ChoiceField(choices=["stdio", "sse", "streamable_http"])
    command = S.CharField(required=False)
    args = S.ListField(child=S.CharField(), required=False)
    env = S.DictField(child=S.CharField(), allow_null=True, required=False)
    server_url = S.CharField(required=False)
    auth_header = S.CharField(allow_null=True, required=False)
    auth_token = S.CharField(allow_null=True, required=False)
    custom_headers = S.DictField(child=S.CharField(), allow_null=True, required=False)


class LLMConfigSchema(S.Serializer[Any]):
    model = S.CharField()
    model_endpoint_type = S.CharField()
    model_endpoint = S.CharField(allow_null=True)
    handle = S.CharField()
    context_window = S.IntegerField()
    temperature = S.FloatField(allow_null=True)
    max_tokens = S.IntegerField(allow_null=True)


class EmbeddingConfigSchema(S.Serializer[Any]):
    embedding_endpoint_type = S.CharField()
    embedding_model = S.CharField()
    embedding_dim = S.IntegerField()
    handle = S.CharField()


class MemorySchema(S.Serializer[Any]):
    blocks = BlockSchema(many=True)
    file_blocks = S.ListField(child=S.DictField())
    agent_type = S.CharField()
    git_enabled = S.BooleanField()
    prompt_template = S.CharField(allow_blank=True)


class IdentityPropertySchema(S.Serializer[Any]):
    key = S.CharField()
    value = S.JSONField()
    type = S.ChoiceField(choices=["string", "number", "boolean", "json"])


class IdentitySchema(S.Serializer[Any]):
    id = S.CharField()
    identifier_key = S.CharField()
    name = S.CharField()
    identity_type = S.ChoiceField(choices=["user", "org", "other"])
    project_id = S.CharField(allow_null=True)
    agent_ids = S.ListField(child=S.CharField())
    block_ids = S.ListField(child=S.CharField())
    properties = IdentityPropertySchema(many=True)


class AgentStateSchema(S.Serializer[Any]):
    id = S.CharField()
    name = S.CharField()
    description = S.CharField(allow_null=True)
    agent_type = S.CharField()
    system = S.CharField()
    model = S.CharField()
    embedding = S.CharField(allow_null=True)
    llm_config = LLMConfigSchema()
    embedding_config = EmbeddingConfigSchema(allow_null=True)
    blocks = BlockSchema(many=True)
    memory = MemorySchema()
    tools = ToolSchema(many=True)
    sources = S.ListField(child=S.DictField())
    tags = S.ListField(child=S.CharField())
    tool_rules = S.ListField(child=S.DictField())
    message_ids = S.ListField(child=S.CharField(), allow_null=True)
    identities = IdentitySchema(many=True)
    identity_ids = S.ListField(child=S.CharField())
    metadata = S.DictField()
    timezone = S.CharField()
    last_run_completion = S.DateTimeField(allow_null=True)
    last_run_duration_ms = S.IntegerField(allow_null=True)
    last_stop_reason = S.ChoiceField(choices=StopReason.wire_values(), allow_null=True)
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class LettaMessageSchema(S.Serializer[Any]):
    """One member of the `message_type` union; the type-specific fields are listed in API-NOTES."""

    id = S.CharField()
    message_type = S.ChoiceField(choices=MESSAGE_TYPES)
    date = S.DateTimeField()
    name = S.CharField(allow_null=True)
    otid = S.CharField(allow_null=True)
    sender_id = S.CharField(allow_null=True)
    step_id = S.CharField(allow_null=True)
    run_id = S.CharField(allow_null=True)
    is_err = S.BooleanField(allow_null=True)
    seq_id = S.IntegerField(allow_null=True)
    content = S.JSONField(required=False)
    reasoning = S.CharField(required=False)
    tool_call = S.DictField(required=False)
    tool_return = S.CharField(required=False)
    status = S.CharField(required=False)
    tool_call_id = S.CharField(required=False)


class StopReasonSchema(S.Serializer[Any]):
    message_type = S.CharField()
    stop_reason = S.ChoiceField(choices=StopReason.wire_values())


class UsageSchema(S.Serializer[Any]):
    message_type = S.CharField()
    prompt_tokens = S.IntegerField()
    completion_tokens = S.IntegerField()
    total_tokens = S.IntegerField()
    step_count = S.IntegerField()
    run_ids = S.ListField(child=S.CharField())


class LettaResponseSchema(S.Serializer[Any]):
    messages = LettaMessageSchema(many=True)
    stop_reason = StopReasonSchema()
    usage = UsageSchema()


class RunSchema(S.Serializer[Any]):
    id = S.CharField()
    agent_id = S.CharField()
    status = S.ChoiceField(choices=["created", "running", "completed", "failed", "cancelled"])
    stop_reason = S.ChoiceField(choices=StopReason.wire_values(), allow_null=True)
    background = S.BooleanField()
    callback_url = S.CharField(allow_null=True)
    metadata = S.DictField()
    request_config = S.DictField()
    created_at = S.DateTimeField()
    completed_at = S.DateTimeField(allow_null=True)
    total_duration_ns = S.IntegerField(allow_null=True)


class StepSchema(S.Serializer[Any]):
    id = S.CharField()
    run_id = S.CharField()
    agent_id = S.CharField()
    model = S.CharField()
    prompt_tokens = S.IntegerField()
    completion_tokens = S.IntegerField()
    total_tokens = S.IntegerField()
    status = S.CharField()
    feedback = S.CharField(allow_null=True)
    tags = S.ListField(child=S.CharField())


class RunMetricsSchema(S.Serializer[Any]):
    id = S.CharField()
    agent_id = S.CharField()
    run_start_ns = S.IntegerField(allow_null=True)
    run_ns = S.IntegerField(allow_null=True)
    num_steps = S.IntegerField()
    tools_used = S.ListField(child=S.CharField())
    project_id = S.CharField(allow_null=True)
    template_id = S.CharField(allow_null=True)
    base_template_id = S.CharField(allow_null=True)


class StepMetricsSchema(S.Serializer[Any]):
    id = S.CharField()
    agent_id = S.CharField()
    run_id = S.CharField()
    llm_request_ns = S.IntegerField(allow_null=True)
    llm_request_start_ns = S.IntegerField(allow_null=True)
    step_start_ns = S.IntegerField(allow_null=True)
    step_ns = S.IntegerField(allow_null=True)
    tool_execution_ns = S.IntegerField(allow_null=True)
    provider_id = S.CharField(allow_null=True)
    project_id = S.CharField(allow_null=True)
    template_id = S.CharField(allow_null=True)
    base_template_id = S.CharField(allow_null=True)


class ContextWindowSchema(S.Serializer[Any]):
    context_window_size_max = S.IntegerField()
    context_window_size_current = S.IntegerField()
    num_messages = S.IntegerField()
    num_archival_memory = S.IntegerField()
    num_recall_memory = S.IntegerField()
    num_tokens_external_memory_summary = S.IntegerField()
    external_memory_summary = S.CharField(allow_blank=True)
    num_tokens_system = S.IntegerField()
    system_prompt = S.CharField(allow_blank=True)
    num_tokens_core_memory = S.IntegerField()
    core_memory = S.CharField(allow_blank=True)
    num_tokens_summary_memory = S.IntegerField()
    summary_memory = S.CharField(allow_null=True)
    num_tokens_functions_definitions = S.IntegerField()
    functions_definitions = S.ListField(child=S.DictField())
    num_tokens_messages = S.IntegerField()
    messages = S.ListField(child=S.DictField())


class ToolExecutionResultSchema(S.Serializer[Any]):
    status = S.CharField(help_text="success or error")
    func_return = S.JSONField(allow_null=True)
    agent_state = AgentStateSchema(allow_null=True)
    stdout = S.ListField(child=S.CharField(allow_blank=True))
    stderr = S.ListField(child=S.CharField(allow_blank=True))
    sandbox_config_fingerprint = S.CharField(allow_null=True)


class ToolReturnMessageSchema(S.Serializer[Any]):
    id = S.CharField()
    message_type = S.CharField()
    date = S.DateTimeField()
    name = S.CharField(allow_null=True)
    tool_return = S.CharField(allow_blank=True)
    status = S.CharField(help_text="success or error")
    tool_call_id = S.CharField()
    stdout = S.ListField(child=S.CharField(allow_blank=True))
    stderr = S.ListField(child=S.CharField(allow_blank=True))


class ToolSearchResultSchema(S.Serializer[Any]):
    tool = ToolSchema()
    combined_score = S.FloatField()
    embedded_text = S.CharField(allow_null=True)
    fts_rank = S.IntegerField(allow_null=True)
    vector_rank = S.IntegerField(allow_null=True)


class RunUsageSchema(S.Serializer[Any]):
    prompt_tokens = S.IntegerField()
    completion_tokens = S.IntegerField()
    total_tokens = S.IntegerField()


class PassageSchema(S.Serializer[Any]):
    id = S.CharField()
    text = S.CharField()
    tags = S.ListField(child=S.CharField())
    metadata = S.DictField()
    embedding_config = EmbeddingConfigSchema(allow_null=True)
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class ArchiveSchema(S.Serializer[Any]):
    id = S.CharField()
    name = S.CharField()
    description = S.CharField(allow_null=True)
    metadata = S.DictField()
    embedding_config = EmbeddingConfigSchema(allow_null=True)
    vector_db_provider = S.CharField()
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class PassageSearchItemSchema(S.Serializer[Any]):
    passage = PassageSchema()
    score = S.FloatField()
    metadata = S.DictField()


class PassageSearchResultSchema(S.Serializer[Any]):
    id = S.CharField()
    timestamp = S.CharField()
    content = S.CharField()
    tags = S.ListField(child=S.CharField())


class PassageSearchSchema(S.Serializer[Any]):
    results = PassageSearchResultSchema(many=True)
    count = S.IntegerField()


class ModelSchema(S.Serializer[Any]):
    handle = S.CharField()
    name = S.CharField()
    model = S.CharField()
    model_endpoint_type = S.CharField()
    provider_type = S.CharField()
    context_window = S.IntegerField()
    max_context_window = S.IntegerField()


class EmbeddingModelSchema(S.Serializer[Any]):
    handle = S.CharField()
    name = S.CharField()
    embedding_model = S.CharField()
    embedding_endpoint_type = S.CharField()
    embedding_dim = S.IntegerField()
    provider_type = S.CharField()
    provider_name = S.CharField()
    display_name = S.CharField()


class CompactionSchema(S.Serializer[Any]):
    summary = S.CharField()
    num_messages_before = S.IntegerField()
    num_messages_after = S.IntegerField()


class FolderSchema(S.Serializer[Any]):
    """Folder (Source)."""

    id = S.CharField()
    name = S.CharField()
    description = S.CharField(allow_null=True)
    instructions = S.CharField(allow_null=True)
    metadata = S.DictField(allow_null=True)
    embedding_config = S.DictField()
    vector_db_provider = S.CharField()
    created_at = S.DateTimeField(allow_null=True)
    updated_at = S.DateTimeField(allow_null=True)
    created_by_id = S.CharField(allow_null=True)
    last_updated_by_id = S.CharField(allow_null=True)


class FileMetadataSchema(S.Serializer[Any]):
    id = S.CharField()
    source_id = S.CharField()
    folder_id = S.CharField()
    file_name = S.CharField()
    original_file_name = S.CharField()
    file_type = S.CharField(allow_null=True)
    file_size = S.IntegerField(allow_null=True)
    processing_status = S.ChoiceField(choices=File.Status.values)
    error_message = S.CharField(allow_null=True)
    total_chunks = S.IntegerField(allow_null=True)
    chunks_embedded = S.IntegerField(allow_null=True)
    content = S.CharField(allow_null=True, help_text="only with include_content")
    created_at = S.DateTimeField(allow_null=True)
    updated_at = S.DateTimeField(allow_null=True)


class AgentFileViewSchema(S.Serializer[Any]):
    """An agent's view of one file of its folders: open or closed, and the lines it shows."""

    id = S.CharField()
    file_id = S.CharField()
    file_name = S.CharField()
    folder_id = S.CharField()
    folder_name = S.CharField()
    is_open = S.BooleanField()
    start_line = S.IntegerField(allow_null=True)
    end_line = S.IntegerField(allow_null=True)
    last_accessed_at = S.DateTimeField(allow_null=True)
    visible_content = S.CharField(allow_null=True)


class AgentFilesPageSchema(S.Serializer[Any]):
    files = AgentFileViewSchema(many=True)
    next_cursor = S.CharField(allow_null=True)
    has_more = S.BooleanField()


class FileChunkSchema(S.Serializer[Any]):
    """A file's chunk, as Letta's Passage; metadata carries start_line, end_line and position."""

    id = S.CharField()
    text = S.CharField()
    file_id = S.CharField()
    source_id = S.CharField()
    metadata = S.DictField()
    embedding_config = S.DictField(allow_null=True)
    tags = S.ListField(child=S.CharField())
    created_at = S.DateTimeField(allow_null=True)
    updated_at = S.DateTimeField(allow_null=True)
