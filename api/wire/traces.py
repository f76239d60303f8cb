"""Traces of runs and steps, built from Engram's own records (runs, steps, tool results), not from a tracing
backend: `GET /v1/runs/{id}/trace` (spans, in the column names of the OpenTelemetry ClickHouse exporter that Letta
reads them from) and `GET /v1/steps/{id}/trace` (the step's provider request and response, Letta's ProviderTrace).

Times come from the rows: the run's span from its creation to its end; its queue wait until its claim; a step's
span from the previous step's end (or the claim) to its persistence; the LLM request from the step's start for its
recorded latency; the step's tool calls share what remains of it (their own durations are not recorded)."""

import datetime as dt
import uuid
from typing import Any

from agents.models import Message, Run, RunStatus, Step
from api.wire.blocks import JSON, iso
from lib import catalogue
from lib.ids import public_id

SERVICE = "engram"


def _span_id(value: uuid.UUID, salt: int = 0) -> str:
    return f"{(value.int >> 64) ^ salt:016x}"


def _span(
    *,
    trace_id: str,
    span_id: str,
    parent: str,
    name: str,
    start: dt.datetime,
    end: dt.datetime | None,
    error: str = "",
    kind: str = "Internal",
    attributes: dict[str, Any],
) -> JSON:
    duration = max(0, int(((end or start) - start).total_seconds() * 1e9))
    return {
        "Timestamp": iso(start),
        "TraceId": trace_id,
        "SpanId": span_id,
        "ParentSpanId": parent,
        "SpanName": name,
        "SpanKind": kind,
        "ServiceName": SERVICE,
        "Duration": duration,
        "StatusCode": "Error" if error else ("Ok" if end is not None else "Unset"),
        "StatusMessage": error,
        "SpanAttributes": {k: v for k, v in attributes.items() if v is not None},
    }


def run_trace(run: Run, steps: list[Step], tools: list[Message], *, limit: int | None = None) -> list[JSON]:
    trace_id = run.id.hex
    root = _span_id(run.id)
    run_pid = public_id("run", run.id)
    agent_pid = public_id("agent", run.agent_id)
    ended = run.completed_at if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING) else None
    spans = [
        _span(
            trace_id=trace_id,
            span_id=root,
            parent="",
            name="agent_run",
            kind="Server",
            start=run.created_at,
            end=ended,
            error=run.error if run.status == RunStatus.FAILED else "",
            attributes={
                "run_id": run_pid,
                "agent_id": agent_pid,
                "status": run.status,
                "stop_reason": run.stop_reason or None,
                "step_count": run.step_count,
                "prompt_tokens": run.prompt_tokens,
                "completion_tokens": run.completion_tokens,
            },
        )
    ]
    if run.started_at is not None:
        spans.append(
            _span(
                trace_id=trace_id,
                span_id=_span_id(run.id, 1),
                parent=root,
                name="run_queued",
                start=run.created_at,
                end=run.started_at,
                attributes={"run_id": run_pid},
            )
        )
    by_step: dict[uuid.UUID, list[Message]] = {}
    for message in tools:
        if message.step_id is not None:
            by_step.setdefault(message.step_id, []).append(message)
    previous = run.started_at or run.created_at
    for step in steps:
        start, end = min(previous, step.created_at), step.created_at
        step_span = _span_id(step.id)
        step_pid = public_id("step", step.id)
        spans.append(
            _span(
                trace_id=trace_id,
                span_id=step_span,
                parent=root,
                name="agent_step",
                start=start,
                end=end,
                error=step.error,
                attributes={"step_id": step_pid, "run_id": run_pid, "agent_id": agent_pid, "step_index": step.index},
            )
        )
        llm_end = min(end, start + dt.timedelta(milliseconds=step.latency_ms))
        provider, _ = catalogue.split_handle(step.model)
        spans.append(
            _span(
                trace_id=trace_id,
                span_id=_span_id(step.id, 1),
                parent=step_span,
                name="llm_request",
                kind="Client",
                start=start,
                end=llm_end,
                error=step.error,
                attributes={
                    "step_id": step_pid,
                    "model": step.model,
                    "provider": provider,
                    "prompt_tokens": step.prompt_tokens,
                    "completion_tokens": step.completion_tokens,
                    "cost": step.cost,
                    "latency_ms": step.latency_ms,
                },
            )
        )
        for n, tool in enumerate(by_step.get(step.id, []), start=2):
            spans.append(
                _span(
                    trace_id=trace_id,
                    span_id=_span_id(step.id, n),
                    parent=step_span,
                    name=f"tool_execution.{tool.name}",
                    start=llm_end,
                    end=end,
                    error=tool.text[:500] if tool.is_err else "",
                    attributes={"step_id": step_pid, "tool_name": tool.name, "tool_call_id": tool.tool_call_id},
                )
            )
        previous = end
    return spans[:limit] if limit else spans


def step_trace(step: Step, *, agent_tags: list[str]) -> JSON:
    """Letta's ProviderTrace: the exact request sent to the model and its response, for one step."""
    provider, name = catalogue.split_handle(step.model)
    return {
        "id": public_id("step", step.id),
        "step_id": public_id("step", step.id),
        "run_id": public_id("run", step.run_id),
        "agent_id": public_id("agent", step.agent_id),
        "agent_tags": agent_tags,
        "org_id": None,
        "created_by_id": None,
        "last_updated_by_id": None,
        "call_type": "agent_step",
        "source": SERVICE,
        "request_json": step.request or {},
        "response_json": step.response or {},
        "llm_config": {"model": name, "handle": step.model, "provider_name": provider},
        "compaction_settings": None,
        "billing_context": None,
        "latency_ms": step.latency_ms,
        "created_at": iso(step.created_at),
        "updated_at": iso(step.created_at),
    }
