from django.urls import include, path

from ade.views import accounts, agents, dashboard, memory, tools, workspace

app_name = "ade"

agent_patterns = [
    path("", workspace.memory_panel, name="agent-detail"),
    path("export/", agents.agent_export_view, name="agent-export"),
    path("memory/", workspace.memory_panel, name="memory"),
    path("archival/", workspace.archival_panel, name="archival"),
    path("recall/", workspace.recall_panel, name="recall"),
    path("context/", workspace.context_panel, name="context"),
    path("runs/", workspace.runs_panel, name="runs"),
    path("tools/", workspace.tools_panel, name="tools"),
    path("settings/", workspace.settings_panel, name="settings"),
    path("settings/embedding-job/", workspace.embedding_job, name="embedding-job"),
    path("messages/", workspace.chat_messages, name="chat-messages"),
    path("messages/reset/", workspace.messages_reset_view, name="messages-reset"),
    path("delete/", workspace.agent_delete_view, name="agent-delete"),
    path("run-status/", workspace.run_status, name="run-status"),
    path("runs/<uuid:run_id>/steps/", workspace.run_steps, name="run-steps"),
    path("runs/<uuid:run_id>/cancel/", workspace.run_cancel_view, name="run-cancel"),
    path("runs/<uuid:run_id>/retry/", workspace.run_retry_view, name="run-retry"),
    path("tools/attach/", workspace.tool_attach, name="tool-attach"),
    path("tools/<uuid:tool_id>/detach/", workspace.tool_detach, name="tool-detach"),
    path("blocks/attach/", memory.block_attach, name="block-attach"),
    path("blocks/new/", memory.block_create_view, name="block-create"),
    path("blocks/<uuid:block_id>/", memory.block_card, name="block"),
    path("blocks/<uuid:block_id>/history/", workspace.block_history, name="block-history"),
    path("blocks/<uuid:block_id>/detach/", memory.block_detach, name="block-detach"),
    path("blocks/<uuid:block_id>/revisions/<uuid:revision_id>/revert/", memory.block_revert_view, name="block-revert"),
    path("passages/", memory.passage_insert_view, name="passage-insert"),
    path("passages/<uuid:passage_id>/delete/", memory.passage_delete_view, name="passage-delete"),
]

urlpatterns = [
    path("", agents.home, name="home"),
    path("agents/new/", agents.agent_create_view, name="agent-create"),
    path("agents/import/", agents.agent_import_view, name="agent-import"),
    path("agents/<uuid:agent_id>/", include(agent_patterns)),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("tools/", tools.tool_library, name="tool-library"),
    path("tools/new/", tools.tool_new, name="tool-new"),
    path("tools/schema/", tools.tool_schema_preview, name="tool-schema"),
    path("tools/run/", tools.tool_run_view, name="tool-run"),
    path("tools/<uuid:tool_id>/", tools.tool_edit, name="tool-edit"),
    path("tools/<uuid:tool_id>/delete/", tools.tool_delete_view, name="tool-delete"),
    path("members/", accounts.members, name="members"),
    path("members/<str:username>/role/", accounts.member_role, name="member-role"),
    path("members/<str:username>/remove/", accounts.member_remove, name="member-remove"),
    path("account/password/", accounts.password_change, name="password-change"),
    path("keys/", accounts.api_keys, name="api-keys"),
    path("keys/<uuid:key_id>/revoke/", accounts.api_key_revoke, name="api-key-revoke"),
]
