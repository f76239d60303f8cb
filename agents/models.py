import uuid

from django.db import models

from accounts.fields import user_reference
from lib.ids import ordered_uuid
from memory.fields import EmbeddingField


def in_history(conversation_id: uuid.UUID | None) -> models.Q:
    """The rows (runs, messages) of one history of an agent: a conversation's, or (None) the agent's own."""
    return models.Q(conversation_id=conversation_id) if conversation_id else models.Q(conversation__isnull=True)


class AgentType(models.TextChoices):
    V1 = "v1", "v1 (tools until a plain-text answer)"
    MEMGPT = "memgpt", "memgpt (send_message, inner thoughts, heartbeats)"


class Agent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="agents")
    created_by = user_reference()
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    agent_type = models.CharField(max_length=16, choices=AgentType.choices, default=AgentType.V1)
    # The agent-type name the client used on the wire (e.g. Letta's "letta_v1_agent"), echoed back.
    agent_type_alias = models.CharField(max_length=64, blank=True, default="")
    system = models.TextField(blank=True, default="")
    model = models.CharField(max_length=200, help_text="litellm model handle, e.g. openai/gpt-4o-mini")
    model_settings = models.JSONField(default=dict, blank=True, help_text="temperature, max_tokens, …")
    context_window_limit = models.PositiveIntegerField(default=32_000)
    embedding = models.CharField(max_length=200, blank=True, default="")
    tool_rules = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    blocks = models.ManyToManyField("memory.Block", through="AgentBlock", related_name="agents")
    tools: "models.ManyToManyField[Tool, AgentTool]" = models.ManyToManyField(
        "Tool", through="AgentTool", related_name="agents"
    )
    last_run_completion = models.DateTimeField(null=True, blank=True)
    last_run_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_stop_reason = models.CharField(max_length=64, blank=True, default="")
    compaction_settings = models.JSONField(default=dict, blank=True, help_text="model, prompt, threshold …")
    # Counters handed out under the agent row lock: message order and run arrival order.
    message_seq = models.PositiveBigIntegerField(default=0)
    run_seq = models.PositiveBigIntegerField(default=0)
    # The compiled system message is kept until memory changes, so provider prompt caches stay warm.
    compiled_system = models.TextField(blank=True, default="")
    compiled_hash = models.CharField(max_length=64, blank=True, default="")
    # Running summary of evicted messages (written by the LLM during compaction).
    summary = models.TextField(blank=True, default="")
    # Bumped whenever a message leaves the context window or an in-context message changes, so that cached
    # copies of the window (agents.runtime.context) are dropped. Anything that edits messages must bump it.
    context_version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "name"])]

    def __str__(self) -> str:
        return self.name


class AgentTag(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tag_rows")
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    tag = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "tag"], name="agents_agenttag_unique")]
        indexes = [models.Index(fields=["organization", "tag"])]


class AgentSecret(models.Model):
    """An environment variable the agent's custom tools run with (Letta's `secrets`), encrypted at rest."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="secret_rows")
    key = models.CharField(max_length=255)
    value_encrypted = models.TextField(help_text="Fernet token (config/crypto.py)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "key"], name="agents_agentsecret_unique")]


class AgentBlock(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE)
    block = models.ForeignKey("memory.Block", on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["agent", "block"], name="agents_agentblock_unique")]


class IdentityType(models.TextChoices):
    USER = "user"
    ORG = "org"
    OTHER = "other"


class Identity(models.Model):
    """An end user (or organization, …) of an app built on Engram, mapped to agents and blocks (Letta's
    identities). `identifier_key` is the app's own id for it, unique within the organization."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    identifier_key = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    identity_type = models.CharField(max_length=10, choices=IdentityType.choices)
    properties = models.JSONField(default=list, blank=True, help_text="[{key, value, type}]")
    agents = models.ManyToManyField(Agent, through="IdentityAgent", related_name="identities", blank=True)
    blocks = models.ManyToManyField("memory.Block", through="IdentityBlock", related_name="identities", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "identifier_key"], name="agents_identity_key_unique")
        ]
        indexes = [models.Index(fields=["organization", "created_at", "id"])]

    def __str__(self) -> str:
        return self.identifier_key


class IdentityAgent(models.Model):
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="agent_links")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="identity_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["identity", "agent"], name="agents_identityagent_unique")]


class IdentityBlock(models.Model):
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="block_links")
    block = models.ForeignKey("memory.Block", on_delete=models.CASCADE, related_name="identity_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["identity", "block"], name="agents_identityblock_unique")]


class MCPServer(models.Model):
    """An MCP server of an organization: a command run in the tool sandbox (stdio) or a URL (SSE, streamable
    HTTP). Its tools are Tool rows (tool_type external_mcp) kept in step with the server by agents.services.mcp.
    Credentials (a stdio server's environment, the auth token, custom header values) are one Fernet token."""

    class Kind(models.TextChoices):
        STDIO = "stdio", "Local command (stdio)"
        SSE = "sse", "SSE URL"
        STREAMABLE_HTTP = "streamable_http", "Streamable HTTP URL"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="mcp_servers")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    command = models.CharField(max_length=1000, blank=True, default="")
    args = models.JSONField(default=list, blank=True)
    server_url = models.CharField(max_length=2000, blank=True, default="")
    auth_header = models.CharField(max_length=200, blank=True, default="")
    secrets_encrypted = models.TextField(
        blank=True, default="", help_text="Fernet token (lib/crypto.py) of {env, auth_token, custom_headers}"
    )
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="agents_mcpserver_unique_name")]

    def __str__(self) -> str:
        return self.name


class Tool(models.Model):
    """A tool an agent can call. Built-in tools have no organization and are visible to all."""

    class ToolType(models.TextChoices):
        BUILTIN = "letta_core", "Built-in"
        WEB = "letta_builtin", "Built-in (web)"
        MEMORY = "letta_memory_core", "Built-in memory"
        FILES = "letta_files_core", "Built-in files"
        CUSTOM = "custom", "Custom (Python source)"
        MCP = "external_mcp", "From an MCP server"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.CASCADE, related_name="tools"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    tool_type = models.CharField(max_length=32, choices=ToolType.choices, default=ToolType.CUSTOM)
    source_code = models.TextField(blank=True, default="")
    json_schema = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    return_char_limit = models.PositiveIntegerField(default=50_000)
    metadata = models.JSONField(default=dict, blank=True)
    # external_mcp tools: their server (the tool goes with it) and the tool's name there.
    mcp_server = models.ForeignKey(MCPServer, null=True, blank=True, on_delete=models.CASCADE, related_name="tools")
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="agents_tool_unique_name"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(organization=None), name="agents_tool_unique_builtin_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AgentTool(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE)
    tool = models.ForeignKey(Tool, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "tool"], name="agents_agenttool_unique")]


class Conversation(models.Model):
    """One thread of an agent (Letta's conversations): its own messages, in-context window and running summary;
    the agent's core and archival memory are shared by all of them. The agent's own history (Letta's `default`
    conversation) has no row: its messages and runs have no conversation, its summary is on the agent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="conversations")
    created_by = user_reference()
    last_updated_by = user_reference()
    # Letta's `summary` (a title the client shows and searches) and `description`; not the running summary.
    summary = models.TextField(blank=True, default="")
    description = models.TextField(blank=True, default="")
    hidden = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Overrides of the agent's settings for this conversation (None/empty: the agent's).
    model = models.CharField(max_length=200, blank=True, default="")
    model_settings = models.JSONField(default=dict, blank=True)
    context_window_limit = models.PositiveIntegerField(null=True, blank=True)
    # The running summary of this conversation's evicted messages and the version of its window (as the agent's
    # `summary` and `context_version` are for its own history).
    context_summary = models.TextField(blank=True, default="")
    context_version = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["organization", "created_at", "id"]),
            models.Index(fields=["agent", "created_at", "id"]),
        ]


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_RUN_STATUSES = [RunStatus.QUEUED, RunStatus.RUNNING]


class StopReason(models.TextChoices):
    """Why a run (or one of its steps) ended: the one list, with which ends are failures and how each goes on the
    wire. The values are Letta's `StopReasonType` plus three of Engram's own (mapped for the wire below). Stored
    as plain text (rows written before this list may hold anything): read them through the classmethods."""

    END_TURN = "end_turn"
    NO_TOOL_CALL = "no_tool_call"  # a memgpt agent answered without a tool: its turn is over
    TOOL_RULE = "tool_rule"
    MAX_STEPS = "max_steps"
    CANCELLED = "cancelled"
    ERROR = "error"
    LLM_API_ERROR = "llm_api_error"
    INVALID_TOOL_CALL = "invalid_tool_call"
    CONTEXT_WINDOW_OVERFLOW_IN_SYSTEM_PROMPT = "context_window_overflow_in_system_prompt"
    # Engram's own: the provider refused the request as too large for the model (on the wire: error).
    CONTEXT_WINDOW_OVERFLOW = "context_window_overflow"
    # Engram's own, a step's only: it tried to end the run before its required_before_exit tools ran, so the run
    # goes on (the next step forces the first missing one). No run ends with it.
    REQUIRED_BEFORE_EXIT = "required_before_exit"
    # Letta's, never written here; known so that clients' filters on them are valid.
    INVALID_LLM_RESPONSE = "invalid_llm_response"
    MAX_TOKENS_EXCEEDED = "max_tokens_exceeded"
    REQUIRES_APPROVAL = "requires_approval"
    INSUFFICIENT_CREDITS = "insufficient_credits"

    @classmethod
    def failed(cls, value: str) -> bool:
        """A run that ends for this reason has failed (RunStatus.FAILED); any other end completes it."""
        return value in _FAILURES

    @classmethod
    def errored(cls, value: str) -> bool:
        """A failure by error rather than by the agent's own calls (stored or wire value): a failed run's stream
        ends with an `error` event, not a `stop_reason` (invalid_tool_call fails the run, yet is reported as the
        agent's stop reason). A value this list does not know counts as `error`, as on the wire."""
        return cls.to_wire(value) in _ERRORS

    @classmethod
    def natural_end(cls, value: str) -> bool:
        """The agent ended its turn of its own accord (tool rules may hold such an end back)."""
        return value in _NATURAL_ENDS

    @classmethod
    def to_wire(cls, value: str) -> str | None:
        """The stored reason as Letta's StopReasonType: None when there is none (a run still going), an unknown
        or Engram-only failure as `error`."""
        if not value or value == cls.REQUIRED_BEFORE_EXIT:
            return None
        if value == cls.CONTEXT_WINDOW_OVERFLOW or value not in cls.values:
            return cls.ERROR.value
        return value

    @classmethod
    def wire_values(cls) -> list[str]:
        """Every reason a client may see or filter by (Letta's StopReasonType)."""
        return [v for v in cls.values if v not in (cls.CONTEXT_WINDOW_OVERFLOW, cls.REQUIRED_BEFORE_EXIT)]

    @classmethod
    def stored_as(cls, wire_value: str) -> list[str]:
        """The stored reasons a wire reason stands for (to filter runs by what clients were shown)."""
        return [v for v in cls.values if cls.to_wire(v) == wire_value]

    @classmethod
    def of_run(cls, *, status: str, value: str) -> str:
        """The wire reason an ended run reports (a response's or a stream's `stop_reason`), also for a run ended
        without one: cancelled, error when it failed, else end_turn."""
        if status == RunStatus.CANCELLED:
            return cls.CANCELLED.value
        return cls.to_wire(value) or (cls.ERROR.value if status == RunStatus.FAILED else cls.END_TURN.value)


_FAILURES = frozenset(
    r.value
    for r in (
        StopReason.ERROR,
        StopReason.LLM_API_ERROR,
        StopReason.INVALID_TOOL_CALL,
        StopReason.CONTEXT_WINDOW_OVERFLOW,
        StopReason.CONTEXT_WINDOW_OVERFLOW_IN_SYSTEM_PROMPT,
        StopReason.INVALID_LLM_RESPONSE,
    )
)
_ERRORS = _FAILURES - {StopReason.INVALID_TOOL_CALL.value}
_NATURAL_ENDS = frozenset(r.value for r in (StopReason.END_TURN, StopReason.NO_TOOL_CALL, StopReason.TOOL_RULE))


class Run(models.Model):
    """One request to an agent. The database allows one active run per agent; later sends wait their turn."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="runs")
    # The conversation the run belongs to; None: the agent's own history (Letta's `default`).
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    created_by = user_reference()
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    stop_reason = models.CharField(max_length=64, blank=True, default="")
    options = models.JSONField(default=dict, blank=True, help_text="max_steps and other request options")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    step_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    callback_url = models.URLField(blank=True, default="")
    # Arrival order among the agent's runs (handed out under the agent row lock); queued runs start in this order.
    position = models.PositiveBigIntegerField(default=0)
    # Who executes the run: the Celery task id (a redelivered message keeps it, so it may resume) or an
    # in-process token. A different holder never touches a running run.
    claim_token = models.CharField(max_length=200, blank=True, default="")
    # When the run was handed to the executor (agents.runtime.dispatch): a queued run with it set holds one of
    # its organization's ENGRAM_ORG_MAX_ACTIVE_RUNS slots, as a running run does.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # The holder's lease on a running run (agents.runtime.lease): renewed while its process lives; once it lapses,
    # any sweeper hands the run back to the queue (it resumes after its last persisted step), or fails it after
    # ENGRAM_RUN_MAX_RECOVERIES hand-backs. `recoveries` counts them.
    lease_until = models.DateTimeField(null=True, blank=True)
    recoveries = models.PositiveSmallIntegerField(default=0)
    # A run that stopped with `requires_approval`: the tool calls waiting for an answer ([{id, name, arguments,
    # client}]; `client`: a client-side tool, answered with its result) and when they are denied unanswered
    # (ENGRAM_APPROVAL_TTL). Both are cleared when the calls are answered or expire (agents.services.approvals).
    pending_calls = models.JSONField(default=list, blank=True)
    approval_due = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One running run per conversation (the agent's own history counts as one): conversations of one
            # agent run side by side, each one's sends in order.
            models.UniqueConstraint(
                fields=["agent"],
                condition=models.Q(status__in=["running"], conversation__isnull=True),
                name="agents_run_one_running",
            ),
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(status__in=["running"], conversation__isnull=False),
                name="agents_run_one_running_conversation",
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "status", "position"]),
            # The dispatcher's look-ups: an organization's runs in flight, its queued runs oldest first.
            models.Index(fields=["status", "organization", "created_at"], name="agents_run_status_org"),
        ]

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Step(models.Model):
    """One LLM call of a run, with the exact request and response. Keyed by (run, index) for idempotency."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    model = models.CharField(max_length=200)
    request = models.JSONField(default=dict)
    response = models.JSONField(default=dict, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # Whether the loop goes on after this step (tool calls, heartbeats); lets a resumed run pick up exactly here.
    continues = models.BooleanField(default=False)
    stop_reason = models.CharField(max_length=64, blank=True, default="")
    feedback = models.CharField(max_length=16, blank=True, default="")  # "positive" | "negative" | ""
    feedback_tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="agents_step_run_index")]
        # Usage by day and the daily token quota (agents.usage, agents.quotas) read an organization's steps by time.
        indexes = [models.Index(fields=["organization", "created_at"], name="agents_step_org_time")]


class MessageRole(models.TextChoices):
    SYSTEM = "system", "System"
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    TOOL = "tool", "Tool"
    # The answer to tool calls that waited for approval (Letta's approval_response_message): history only, never
    # in the model's context (stored with in_context=False); the tool results that follow carry the outcome.
    APPROVAL = "approval", "Approval"


class Message(models.Model):
    """Every message ever exchanged (recall memory). `in_context` marks the window sent to the model."""

    id = models.UUIDField(primary_key=True, default=ordered_uuid, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="messages")
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    # The conversation the message belongs to; None: the agent's own history (Letta's `default`).
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    # Order within the agent's history. Null while the message waits in a queued run: a queued run's input
    # is numbered when the run starts, so concurrent sends never interleave in the history.
    seq = models.PositiveBigIntegerField(null=True, blank=True, help_text="Order within the agent's history.")
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = models.JSONField(default=list, blank=True, help_text="content parts: [{type: text, text}, …]")
    text = models.TextField(blank=True, default="", help_text="plain text of content, for search")
    reasoning = models.TextField(blank=True, default="")
    tool_calls = models.JSONField(default=list, blank=True)
    tool_call_id = models.CharField(max_length=200, blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")
    otid = models.CharField(max_length=200, blank=True, default="")
    sender_id = models.CharField(max_length=200, blank=True, default="")
    in_context = models.BooleanField(default=True)
    is_err = models.BooleanField(default=False)
    created_at = models.DateTimeField(db_index=True)
    # Recall search (memory.search): the vector and the model that wrote it; see memory.models.Passage.
    embedding = EmbeddingField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    embedding_dim = models.PositiveSmallIntegerField(null=True, blank=True)
    embedding_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "seq"], name="agents_message_agent_seq"),
            # A retried send with the same otid never creates a second user message.
            models.UniqueConstraint(
                fields=["agent", "otid"],
                condition=models.Q(role="user") & ~models.Q(otid=""),
                name="agents_message_user_otid",
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "in_context", "seq"]),
            models.Index(fields=["conversation", "in_context", "seq"]),
            models.Index(fields=["agent", "created_at"]),
            models.Index(fields=["agent", "otid"]),
        ]
