"""Django admin for staff: a read-only window on agents and memory across organizations.

Read-only on purpose: every write to these rows has a service (limits, revisions, events, run ordering) that
the admin's generic forms would bypass. Staff change things through the ADE or the API."""

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from agents.models import Agent, Message, Run, Step, Tool
from memory.models import Block, BlockRevision, Passage


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Agent)
class AgentAdmin(ReadOnlyAdmin):
    list_display = ["name", "organization", "agent_type", "model", "last_run_completion", "created_at"]
    list_filter = ["agent_type", "organization"]
    search_fields = ["name", "id"]


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["id", "agent", "status", "stop_reason", "step_count", "created_at", "completed_at"]
    list_filter = ["status", "organization"]
    search_fields = ["id", "agent__name"]
    list_select_related = ["agent"]


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = ["run", "index", "model", "prompt_tokens", "completion_tokens", "cost", "latency_ms", "error"]
    list_filter = ["model", "organization"]
    search_fields = ["run__id", "agent__name"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["agent", "seq", "role", "text", "in_context", "created_at"]
    list_filter = ["role", "in_context"]
    search_fields = ["text", "agent__name"]
    list_select_related = ["agent"]


@admin.register(Tool)
class ToolAdmin(ReadOnlyAdmin):
    list_display = ["name", "organization", "tool_type", "updated_at"]
    list_filter = ["tool_type"]
    search_fields = ["name"]


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
    list_display = ["label", "organization", "limit", "read_only", "updated_at"]
    list_filter = ["read_only", "organization"]
    search_fields = ["label", "value"]


@admin.register(BlockRevision)
class BlockRevisionAdmin(ReadOnlyAdmin):
    list_display = ["block", "source", "actor_user", "actor_agent_id", "created_at"]
    list_filter = ["source"]


@admin.register(Passage)
class PassageAdmin(ReadOnlyAdmin):
    list_display = ["agent", "text", "embedding_model", "created_at"]
    search_fields = ["text"]
    exclude = ["embedding"]
