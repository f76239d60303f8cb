from django.urls import URLPattern, path

from api.routes import slash_optional
from api.views.agent_files import AgentExportApi, AgentImportApi
from api.views.agents import (
    AgentContextApi,
    AgentCoreMemoryApi,
    AgentCountApi,
    AgentDetailApi,
    AgentListCreateApi,
    AgentRecompileApi,
    AgentSecretListApi,
    TagListApi,
)
from api.views.archives import AgentArchiveAttachApi, AgentArchiveDetachApi
from api.views.conversations import (
    ConversationCancelApi,
    ConversationCompactApi,
    ConversationDetailApi,
    ConversationForkApi,
    ConversationListCreateApi,
    ConversationMessagesApi,
    ConversationRecompileApi,
    ConversationSearchApi,
    ConversationStreamApi,
)
from api.views.core_memory import (
    AgentBlockAttachApi,
    AgentBlockDetachApi,
    AgentBlockDetailApi,
    AgentBlockListApi,
    BlockAgentListApi,
)
from api.views.identities import (
    AgentIdentityAttachApi,
    AgentIdentityDetachApi,
    BlockIdentityAttachApi,
    BlockIdentityDetachApi,
    IdentityAgentListApi,
    IdentityBlockListApi,
    IdentityCountApi,
    IdentityDetailApi,
    IdentityListCreateApi,
    IdentityPropertiesApi,
)
from api.views.messages import (
    MessageAsyncApi,
    MessageCancelApi,
    MessageResetApi,
    MessagesApi,
    MessageStreamApi,
    MessageUpdateApi,
    OrgMessageDetailApi,
    OrgMessageListApi,
    OrgMessageSearchApi,
    SummarizeApi,
)
from api.views.meta import EmbeddingModelListApi, ModelListApi, ProviderDetailApi, ProviderListApi
from api.views.passages import PassageDeleteApi, PassageListCreateApi, PassageSearchApi
from api.views.runs import (
    RunDetailApi,
    RunListApi,
    RunMessageListApi,
    RunMetricsApi,
    RunStepListApi,
    RunStreamApi,
    RunUsageApi,
    StepDetailApi,
    StepFeedbackApi,
    StepListApi,
    StepMessageListApi,
    StepMetricsApi,
)
from api.views.tools import (
    AgentToolApprovalApi,
    AgentToolAttachApi,
    AgentToolDetachApi,
    AgentToolListApi,
    AgentToolRunApi,
    ToolBaseAddApi,
    ToolCountApi,
    ToolDetailApi,
    ToolListCreateApi,
    ToolRunApi,
    ToolSearchApi,
)
from api.views.traces import RunTraceApi, StepTraceApi

app_name = "agents"

# Collection routes take both slash forms (the SDKs POST to `…/`, and a POST cannot be redirected); item routes
# have none, as in Letta.
A = "agents/<str:agent_id>"
urlpatterns: list[URLPattern] = [
    *slash_optional("agents/", AgentListCreateApi.as_view(), "agent-list"),
    path("agents/count", AgentCountApi.as_view(), name="agent-count"),
    # Agent files (.af): before the item route, which would take "import" for an id.
    path("agents/import", AgentImportApi.as_view(), name="agent-import"),
    path(f"{A}/export", AgentExportApi.as_view(), name="agent-export"),
    path(A, AgentDetailApi.as_view(), name="agent-detail"),
    path(f"{A}/core-memory/blocks", AgentBlockListApi.as_view(), name="agent-block-list"),
    path(f"{A}/core-memory/blocks/attach/<str:block_id>", AgentBlockAttachApi.as_view(), name="agent-block-attach"),
    path(f"{A}/core-memory/blocks/detach/<str:block_id>", AgentBlockDetachApi.as_view(), name="agent-block-detach"),
    path(f"{A}/core-memory/blocks/<str:block_label>", AgentBlockDetailApi.as_view(), name="agent-block-detail"),
    path(f"{A}/messages", MessagesApi.as_view(), name="agent-messages"),
    path(f"{A}/messages/stream", MessageStreamApi.as_view(), name="agent-messages-stream"),
    path(f"{A}/messages/async", MessageAsyncApi.as_view(), name="agent-messages-async"),
    path(f"{A}/messages/cancel", MessageCancelApi.as_view(), name="agent-messages-cancel"),
    path(f"{A}/reset-messages", MessageResetApi.as_view(), name="agent-messages-reset"),
    path(f"{A}/summarize", SummarizeApi.as_view(), name="agent-summarize"),
    path(f"{A}/archival-memory", PassageListCreateApi.as_view(), name="agent-passages"),
    path(f"{A}/archival-memory/search", PassageSearchApi.as_view(), name="agent-passages-search"),
    path(f"{A}/archival-memory/<str:passage_id>", PassageDeleteApi.as_view(), name="agent-passage-detail"),
    path(f"{A}/archives/attach/<str:archive_id>", AgentArchiveAttachApi.as_view(), name="agent-archive-attach"),
    path(f"{A}/archives/detach/<str:archive_id>", AgentArchiveDetachApi.as_view(), name="agent-archive-detach"),
    path(f"{A}/tools", AgentToolListApi.as_view(), name="agent-tool-list"),
    path(f"{A}/tools/attach/<str:tool_id>", AgentToolAttachApi.as_view(), name="agent-tool-attach"),
    path(f"{A}/tools/detach/<str:tool_id>", AgentToolDetachApi.as_view(), name="agent-tool-detach"),
    path("blocks/<str:block_id>/agents", BlockAgentListApi.as_view(), name="block-agent-list"),
    # Routes added for SDK coverage (messages across agents, run/step metrics, recompile, context, tool runs).
    # Fixed segments come before the `<str:…>` routes they would otherwise be read as.
    path(f"{A}/recompile", AgentRecompileApi.as_view(), name="agent-recompile"),
    path(f"{A}/context", AgentContextApi.as_view(), name="agent-context"),
    path(f"{A}/core-memory", AgentCoreMemoryApi.as_view(), name="agent-core-memory"),
    path(f"{A}/messages/<str:message_id>", MessageUpdateApi.as_view(), name="agent-message-detail"),
    path(f"{A}/tools/<str:tool_name>/run", AgentToolRunApi.as_view(), name="agent-tool-run"),
    path(f"{A}/tools/approval/<str:tool_name>", AgentToolApprovalApi.as_view(), name="agent-tool-approval"),
    path("tools/search", ToolSearchApi.as_view(), name="tool-search"),
    path("tools/add-base-tools", ToolBaseAddApi.as_view(), name="tool-add-base"),
    path("tools/run", ToolRunApi.as_view(), name="tool-run"),
    *slash_optional("messages/", OrgMessageListApi.as_view(), "message-list"),
    path("messages/search", OrgMessageSearchApi.as_view(), name="message-search"),
    path("messages/<str:message_id>", OrgMessageDetailApi.as_view(), name="message-detail"),
    path("runs/<str:run_id>/metrics", RunMetricsApi.as_view(), name="run-metrics"),
    path("runs/<str:run_id>/trace", RunTraceApi.as_view(), name="run-trace"),
    path("steps/<str:step_id>/messages", StepMessageListApi.as_view(), name="step-messages"),
    path("steps/<str:step_id>/metrics", StepMetricsApi.as_view(), name="step-metrics"),
    path("steps/<str:step_id>/trace", StepTraceApi.as_view(), name="step-trace"),
    path("steps/<str:step_id>/feedback", StepFeedbackApi.as_view(), name="step-feedback"),
    *slash_optional("tools/", ToolListCreateApi.as_view(), "tool-list"),
    path("tools/count", ToolCountApi.as_view(), name="tool-count"),
    path("tools/<str:tool_id>", ToolDetailApi.as_view(), name="tool-detail"),
    *slash_optional("runs/", RunListApi.as_view(), "run-list"),
    path("runs/<str:run_id>", RunDetailApi.as_view(), name="run-detail"),
    path("runs/<str:run_id>/messages", RunMessageListApi.as_view(), name="run-messages"),
    path("runs/<str:run_id>/steps", RunStepListApi.as_view(), name="run-steps"),
    path("runs/<str:run_id>/stream", RunStreamApi.as_view(), name="run-stream"),
    path("runs/<str:run_id>/usage", RunUsageApi.as_view(), name="run-usage"),
    *slash_optional("steps/", StepListApi.as_view(), "step-list"),
    path("steps/<str:step_id>", StepDetailApi.as_view(), name="step-detail"),
    *slash_optional("models/", ModelListApi.as_view(), "model-list"),
    *slash_optional("models/embedding", EmbeddingModelListApi.as_view(), "embedding-model-list"),
    *slash_optional("tags/", TagListApi.as_view(), "tag-list"),
    *slash_optional("providers/", ProviderListApi.as_view(), "provider-list"),
    path("providers/<str:provider_id>", ProviderDetailApi.as_view(), name="provider-detail"),
    path(f"{A}/secrets", AgentSecretListApi.as_view(), name="agent-secret-list"),
    # Conversations: threads of an agent (`default` + agent_id is the agent's own history).
    *slash_optional("conversations/", ConversationListCreateApi.as_view(), "conversation-list"),
    path("conversations/search", ConversationSearchApi.as_view(), name="conversation-search"),
    path("conversations/<str:conversation_id>", ConversationDetailApi.as_view(), name="conversation-detail"),
    path(
        "conversations/<str:conversation_id>/messages",
        ConversationMessagesApi.as_view(),
        name="conversation-messages",
    ),
    path("conversations/<str:conversation_id>/stream", ConversationStreamApi.as_view(), name="conversation-stream"),
    path("conversations/<str:conversation_id>/cancel", ConversationCancelApi.as_view(), name="conversation-cancel"),
    path("conversations/<str:conversation_id>/compact", ConversationCompactApi.as_view(), name="conversation-compact"),
    path("conversations/<str:conversation_id>/fork", ConversationForkApi.as_view(), name="conversation-fork"),
    path(
        "conversations/<str:conversation_id>/recompile",
        ConversationRecompileApi.as_view(),
        name="conversation-recompile",
    ),
    # Identities (an app's end users), and attaching them to agents and blocks.
    *slash_optional("identities/", IdentityListCreateApi.as_view(), "identity-list"),
    path("identities/count", IdentityCountApi.as_view(), name="identity-count"),
    path("identities/<str:identity_id>", IdentityDetailApi.as_view(), name="identity-detail"),
    path("identities/<str:identity_id>/properties", IdentityPropertiesApi.as_view(), name="identity-properties"),
    path("identities/<str:identity_id>/agents", IdentityAgentListApi.as_view(), name="identity-agent-list"),
    path("identities/<str:identity_id>/blocks", IdentityBlockListApi.as_view(), name="identity-block-list"),
    path(f"{A}/identities/attach/<str:identity_id>", AgentIdentityAttachApi.as_view(), name="agent-identity-attach"),
    path(f"{A}/identities/detach/<str:identity_id>", AgentIdentityDetachApi.as_view(), name="agent-identity-detach"),
    path(
        "blocks/<str:block_id>/identities/attach/<str:identity_id>",
        BlockIdentityAttachApi.as_view(),
        name="block-identity-attach",
    ),
    path(
        "blocks/<str:block_id>/identities/detach/<str:identity_id>",
        BlockIdentityDetachApi.as_view(),
        name="block-identity-detach",
    ),
]
