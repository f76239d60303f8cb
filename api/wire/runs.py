"""Runs, steps and their metrics on the wire (stop reasons: agents.models.StopReason)."""

from collections.abc import Iterable
from typing import cast

from agents.models import (
    Run,
    RunStatus,
    Step,
    StopReason,
    Tool,
)
from api.wire.blocks import JSON, iso
from api.wire.types import RunMetricsWire, RunWire, StepMetricsWire, StepWire, UsageStatisticsWire
from lib import catalogue
from lib.ids import public_id, public_id_or_none

RUN_STATUS = {
    RunStatus.QUEUED: "created",
    RunStatus.RUNNING: "running",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "cancelled",
}


def run_to_wire(run: Run) -> JSON:
    duration = None
    if run.started_at and run.completed_at:
        duration = int((run.completed_at - run.started_at).total_seconds() * 1e9)
    options = run.options or {}
    out: RunWire = {
        "id": public_id("run", run.id),
        "agent_id": public_id("agent", run.agent_id),
        "status": RUN_STATUS.get(RunStatus(run.status), "created"),
        "stop_reason": StopReason.to_wire(run.stop_reason),
        "background": bool(options.get("background", False)),
        "callback_url": run.callback_url or None,
        "callback_sent_at": None,
        "callback_status_code": None,
        "callback_error": None,
        "conversation_id": public_id_or_none("conv", run.conversation_id),
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
    return cast(JSON, out)


def usage_statistics(runs: Iterable[Run]) -> JSON:
    rows = list(runs)
    prompt = sum(r.prompt_tokens for r in rows)
    completion = sum(r.completion_tokens for r in rows)
    out: UsageStatisticsWire = {
        "message_type": "usage_statistics",
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "step_count": sum(r.step_count for r in rows),
        "run_ids": [public_id("run", r.id) for r in rows],
        "cached_input_tokens": None,
        "cache_write_tokens": None,
        "reasoning_tokens": None,
        "context_tokens": None,
    }
    return cast(JSON, out)


def run_metrics_to_wire(run: Run, tools_used: Iterable[Tool]) -> JSON:
    """RunMetrics. Times in nanoseconds: the start is when a worker claimed the run, the duration runs to its end."""
    start = int(run.started_at.timestamp() * 1e9) if run.started_at else None
    duration = None
    if run.started_at and run.completed_at:
        duration = int((run.completed_at - run.started_at).total_seconds() * 1e9)
    out: RunMetricsWire = {
        "id": public_id("run", run.id),
        "agent_id": public_id("agent", run.agent_id),
        "project_id": None,
        "template_id": None,
        "base_template_id": None,
        "run_start_ns": start,
        "run_ns": duration,
        "num_steps": run.step_count,
        "tools_used": [public_id("tool", t.id) for t in tools_used],
    }
    return cast(JSON, out)


def step_metrics_to_wire(step: Step) -> JSON:
    """StepMetrics: Engram times the LLM request of a step (with its context preparation), not its tools."""
    out: StepMetricsWire = {
        "id": public_id("step", step.id),
        "agent_id": public_id("agent", step.agent_id),
        "run_id": public_id("run", step.run_id),
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
    return cast(JSON, out)


def step_to_wire(step: Step) -> JSON:
    provider, _ = catalogue.split_handle(step.model)
    out: StepWire = {
        "id": public_id("step", step.id),
        "run_id": public_id("run", step.run_id),
        "agent_id": public_id("agent", step.agent_id),
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
    return cast(JSON, out)
