import re
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.selectors import organization_id_for
from agents.models import Agent, Tool
from agents.tools.builtin import BUILTIN_IMPLEMENTATIONS, BUILTIN_SCHEMAS, ToolContext, builtin_tool_type
from agents.tools.execute import ToolResult, execute_tool
from agents.tools.limits import organization_tool_slot
from agents.tools.schema import schema_from_source
from agents.tools.validate import parameters_problem
from lib.text import check_storable

_builtins_ready = False


def builtin_tools_ensure() -> dict[str, Tool]:
    """Create or refresh the built-in Tool rows (organization=None). Idempotent and safe to race."""
    global _builtins_ready
    existing = {t.name: t for t in Tool.objects.filter(organization=None, name__in=list(BUILTIN_SCHEMAS))}
    if _builtins_ready and len(existing) == len(BUILTIN_SCHEMAS):
        return existing
    for name, schema in BUILTIN_SCHEMAS.items():
        tool = existing.get(name)
        wanted = {"description": schema["description"], "json_schema": schema, "tool_type": builtin_tool_type(name)}
        if tool is None:
            try:
                with transaction.atomic():
                    existing[name] = Tool.objects.create(organization=None, name=name, tags=["base"], **wanted)
            except IntegrityError:
                existing[name] = Tool.objects.get(organization=None, name=name)
        elif any(getattr(tool, k) != v for k, v in wanted.items()):
            for key, value in wanted.items():
                setattr(tool, key, value)
            tool.save(update_fields=[*wanted, "updated_at"])
    _builtins_ready = True
    return existing


def builtin_tools_seed(**kwargs: Any) -> None:
    """post_migrate receiver (agents.apps): the built-in tools exist, current, once the schema does. Selectors only
    read them."""
    builtin_tools_ensure()


def _clean_tool_fields(
    *, source_code: str, name: str | None, description: str | None, json_schema: dict[str, Any] | None
) -> dict[str, Any]:
    if not isinstance(source_code, str) or not source_code.strip():
        raise ValidationError({"source_code": "must be non-empty Python source"})
    if json_schema is not None:
        if not isinstance(json_schema, dict) or not isinstance(json_schema.get("name"), str):
            raise ValidationError({"json_schema": "must be an object with a 'name'"})
        schema = dict(json_schema)
        if schema.get("parameters") is None:
            schema["parameters"] = {"type": "object", "properties": {}, "required": []}
        problem = parameters_problem(schema["parameters"])
        if problem:
            raise ValidationError({"json_schema.parameters": problem})
        # The function must exist in the source under the schema's name.
        schema_from_source(source_code, schema["name"])
    else:
        schema = schema_from_source(source_code, name)
    if name and name != schema["name"]:
        raise ValidationError({"name": f"must match the function name {schema['name']!r}"})
    if description:
        schema["description"] = description
    if schema["name"] in BUILTIN_SCHEMAS:
        raise ValidationError({"name": f"{schema['name']!r} is a built-in tool name"})
    return {
        "name": schema["name"],
        "description": schema.get("description", ""),
        "json_schema": schema,
        "source_code": source_code,
    }


def _clean_tags(tags: list[str] | None) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValidationError({"tags": "must be a list of strings"})
    return tags


def _clean_return_char_limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError({"return_char_limit": "must be a positive integer"})
    return value


def _save_with(tool: Tool, *, tags: list[str] | None, return_char_limit: int | None) -> Tool:
    """Save the tool with the tags and return_char_limit that were given (None: unchanged)."""
    if tags is not None:
        tool.tags = _clean_tags(tags)
    if return_char_limit is not None:
        tool.return_char_limit = _clean_return_char_limit(return_char_limit)
    tool.save()
    return tool


@transaction.atomic
def tool_create(
    *,
    actor: User,
    source_code: str,
    name: str | None = None,
    description: str | None = None,
    json_schema: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    return_char_limit: int | None = None,
) -> Tool:
    """Create a custom tool of the actor's organization. Without `json_schema` the schema is derived from the
    function's signature and Google-style docstring (agents.tools.schema); bad input is a ValidationError naming the
    field."""
    fields = _clean_tool_fields(source_code=source_code, name=name, description=description, json_schema=json_schema)
    org_id = organization_id_for(actor)
    if Tool.objects.filter(organization_id=org_id, name=fields["name"]).exists():
        raise ValidationError({"name": f"a tool named {fields['name']!r} already exists"})
    extra: dict[str, Any] = {}
    if return_char_limit is not None:
        extra["return_char_limit"] = _clean_return_char_limit(return_char_limit)
    return Tool.objects.create(
        organization_id=org_id,
        created_by=actor,
        tool_type=Tool.ToolType.CUSTOM,
        tags=_clean_tags(tags),
        **fields,
        **extra,
    )


@transaction.atomic
def tool_upsert(
    *,
    actor: User,
    source_code: str,
    name: str | None = None,
    description: str | None = None,
    json_schema: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    return_char_limit: int | None = None,
) -> Tool:
    """Create the tool, or replace the actor's organization's tool of the same name."""
    fields = _clean_tool_fields(source_code=source_code, name=name, description=description, json_schema=json_schema)
    org_id = organization_id_for(actor)
    tool = Tool.objects.select_for_update().filter(organization_id=org_id, name=fields["name"]).first()
    if tool is None:
        return tool_create(
            actor=actor,
            source_code=source_code,
            name=name,
            description=description,
            json_schema=json_schema,
            tags=tags,
            return_char_limit=return_char_limit,
        )
    for key, value in fields.items():
        setattr(tool, key, value)
    return _save_with(tool, tags=tags, return_char_limit=return_char_limit)


@transaction.atomic
def tool_update(
    *,
    tool: Tool,
    source_code: str | None = None,
    description: str | None = None,
    json_schema: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    return_char_limit: int | None = None,
) -> Tool:
    if tool.organization_id is None:
        raise ValidationError({"tool": "built-in tools cannot be changed"})
    if source_code is not None or json_schema is not None:
        fields = _clean_tool_fields(
            source_code=source_code if source_code is not None else tool.source_code,
            name=None if json_schema is not None else tool.name,
            description=description,
            json_schema=json_schema,
        )
        if (
            fields["name"] != tool.name
            and Tool.objects.filter(organization_id=tool.organization_id, name=fields["name"])
            .exclude(pk=tool.pk)
            .exists()
        ):
            raise ValidationError({"name": f"a tool named {fields['name']!r} already exists"})
        for key, value in fields.items():
            setattr(tool, key, value)
    elif description is not None:
        tool.description = description
        tool.json_schema = {**tool.json_schema, "description": description}
    return _save_with(tool, tags=tags, return_char_limit=return_char_limit)


def tool_delete(*, tool: Tool) -> None:
    if tool.organization_id is None:
        raise ValidationError({"tool": "built-in tools cannot be deleted"})
    tool.delete()


class ToolsNotFound(ValidationError):
    """Tool names that resolve to nothing. Letta answers them with a 400 whose text clients match on (letta-code
    creates its base tools when it reads "Tools not found by name"), so the API gives exactly that."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__({"tools": self.text})

    @property
    def text(self) -> str:
        return "Tools not found by name: {" + ", ".join(repr(n) for n in self.names) + "}"


def tool_ids_for_names(*, organization_id: uuid.UUID, names: list[str]) -> list[Tool]:
    """Resolve names to tools: the organization's own first, then built-ins. Unknown names are ToolsNotFound."""
    builtin_tools_ensure()
    found: dict[str, Tool] = {}
    for tool in Tool.objects.filter(organization=None, name__in=names):
        found[tool.name] = tool
    for tool in Tool.objects.filter(organization_id=organization_id, name__in=names):
        found[tool.name] = tool
    missing = [n for n in names if n not in found]
    if missing:
        raise ToolsNotFound(missing)
    return [found[n] for n in names]


def _clean_args(args: Any) -> dict[str, Any]:
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise ValidationError({"args": "must be an object of argument names to values"})
    check_storable(args, root="args")  # a built-in may store them
    return dict(args)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
MAX_ENV_VARS = 100
MAX_ENV_CHARS = 10_000


def clean_tool_environment(variables: Any, field: str) -> dict[str, str]:
    """Environment variables for custom tools (an agent's secrets, a tool run's `env_vars`): names of letters,
    digits and _, string values without NUL."""
    if not isinstance(variables, dict):
        raise ValidationError({field: "must be an object of environment variable names to string values"})
    if len(variables) > MAX_ENV_VARS:
        raise ValidationError({field: f"at most {MAX_ENV_VARS} variables"})
    for key, value in variables.items():
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
            raise ValidationError({field: f"{key!r} is not an environment variable name (letters, digits, _)"})
        if not isinstance(value, str) or len(value) > MAX_ENV_CHARS or "\x00" in value:
            raise ValidationError({field: f"{key}: the value must be a string of at most {MAX_ENV_CHARS} characters"})
    return variables


def agent_tool_run(*, agent: Agent, tool_name: str, args: dict[str, Any] | None = None) -> ToolResult:
    """Run one of the agent's tools now, outside any run, through the loop's executor (built-ins act on the
    agent's memory as if the agent called them; custom tools run in their own process). A tool failure is a
    result with is_err. Raises Tool.DoesNotExist when no tool of that name is attached to the agent."""
    tool = Tool.objects.filter(agenttool__agent=agent, name=tool_name).first()
    if tool is None:
        raise Tool.DoesNotExist(f"the agent has no tool named {tool_name!r}")
    cleaned = _clean_args(args)
    cleaned.pop("request_heartbeat", None)  # memgpt schemas add it; it steers the loop, not the tool
    ctx = ToolContext(agent=agent, run_id=None, step_id=None)
    if tool.organization_id is None and tool.name in BUILTIN_IMPLEMENTATIONS:  # runs here, no process of its own
        return execute_tool(ctx, tool, cleaned)
    with organization_tool_slot(agent.organization_id):  # raises ToolProcessesBusy (the API's 429)
        return execute_tool(ctx, tool, cleaned)


def tool_run_from_source(
    *,
    actor: User,
    source_code: str,
    args: dict[str, Any] | None = None,
    name: str | None = None,
    json_schema: dict[str, Any] | None = None,
    env_vars: dict[str, str] | None = None,
) -> tuple[str, ToolResult]:
    """Run Python source as a custom tool once, without saving it (in its own process, like any custom tool).
    Returns the tool's name and its result; bad source or arguments of the wrong shape are a ValidationError."""
    fields = _clean_tool_fields(source_code=source_code, name=name, description=None, json_schema=json_schema)
    if env_vars is not None:
        clean_tool_environment(env_vars, "env_vars")
    organization_id = organization_id_for(actor)
    tool = Tool(organization_id=organization_id, tool_type=Tool.ToolType.CUSTOM, **fields)
    cleaned = _clean_args(args)
    with organization_tool_slot(organization_id):  # raises ToolProcessesBusy (the API's 429)
        return tool.name, execute_tool(None, tool, cleaned, env=env_vars)
