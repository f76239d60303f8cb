"""The tool executor: one call of a tool with parsed arguments, for the agent loop and the tool-run routes alike.
Built-in tools run in this process inside a savepoint (a failing tool leaves no partial write); custom tools run
in their own sandboxed process (agents.tools.custom), never in this one; MCP tools are calls to their server
(agents.tools.mcp), which times out rather than stalls."""

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from agents.models import MCPServer, Tool
from agents.tools.builtin import BUILTIN_IMPLEMENTATIONS, ToolContext, ToolError
from agents.tools.custom import CustomToolError, run_custom_tool_output
from agents.tools.mcp.client import MCPError
from agents.tools.mcp.run import run_mcp_tool
from agents.tools.secrets import agent_secrets
from agents.tools.validate import validate_arguments
from lib import metrics, tracing

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolResult:
    text: str  # what the model reads (an error starts with "Error: ")
    is_err: bool
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)


def _lines(text: str) -> list[str]:
    return text.splitlines() if text else []


def execute_tool(
    ctx: ToolContext | None, tool: Tool, args: dict[str, Any], *, env: dict[str, str] | None = None
) -> ToolResult:
    """Validate `args` against the tool's schema and run it; every failure is a result with is_err, never an
    exception. The result is cut to the tool's return_char_limit. Built-ins need `ctx` (the agent they act on);
    a custom tool's process gets the agent's secrets (with `ctx`) and `env` as its environment."""
    started = time.perf_counter()
    with tracing.span("tool_execution", tool_name=tool.name, builtin=tool.organization_id is None) as span:
        result = _execute(ctx, tool, args, env)
        if result.is_err:
            tracing.mark_error(span, result.text)
    # Members' tools are one label: their names are theirs, and unbounded.
    label = tool.name if tool.organization_id is None else "custom"
    metrics.TOOL_CALLS.labels(label, "error" if result.is_err else "ok").inc()
    metrics.TOOL_LATENCY.labels(label).observe(time.perf_counter() - started)
    return result


def _execute(ctx: ToolContext | None, tool: Tool, args: dict[str, Any], env: dict[str, str] | None) -> ToolResult:
    schema = tool.json_schema if isinstance(tool.json_schema, dict) else {}
    error = validate_arguments(args, schema.get("parameters") or {})
    if error:
        return ToolResult(f"Error: {error}", True)
    stdout: list[str] = []
    stderr: list[str] = []
    try:
        if tool.organization_id is None and tool.name in BUILTIN_IMPLEMENTATIONS:
            if ctx is None:
                raise ToolError(f"the built-in tool {tool.name!r} needs an agent")
            with transaction.atomic():  # a failing tool leaves no partial write
                result = BUILTIN_IMPLEMENTATIONS[tool.name](ctx, args)
        elif tool.tool_type == Tool.ToolType.MCP:
            result = run_mcp_tool(tool, args)
        else:
            secrets = agent_secrets(agent=ctx.agent) if ctx is not None else {}
            output = run_custom_tool_output(tool, args, env={**secrets, **(env or {})})
            result, stdout, stderr = output.result, _lines(output.stdout), _lines(output.stderr)
    except (ToolError, MCPError, MCPServer.DoesNotExist) as exc:
        return ToolResult(f"Error: {exc}", True)
    except CustomToolError as exc:
        return ToolResult(f"Error: {exc}", True, stdout=_lines(exc.stdout), stderr=_lines(exc.stderr))
    except Exception as exc:
        logger.exception("tool %s crashed", tool.name)
        return ToolResult(f"Error: {type(exc).__name__}: {exc}", True)
    if len(result) > tool.return_char_limit:
        result = result[: tool.return_char_limit] + f"... [truncated to {tool.return_char_limit} characters]"
    return ToolResult(result, False, stdout=stdout, stderr=stderr)
