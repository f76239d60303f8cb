"""Traces from Engram's own records (api.wire.traces): a run's spans and a step's provider request/response."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from agents.selectors import agent_tags, run_tool_results, step_list
from api.base import ApiView, validated
from api.lookups import run_or_404, step_or_404
from api.wire.traces import run_trace, step_trace

S = serializers
MAX_SPANS = 10_000


class RunTraceApi(ApiView):
    class FilterSerializer(S.Serializer[Any]):
        limit = S.IntegerField(required=False, min_value=1, max_value=MAX_SPANS, default=1000)

    @extend_schema(
        operation_id="retrieve_trace_for_run",
        parameters=[FilterSerializer],
        responses={200: {"type": "array", "items": {"type": "object", "additionalProperties": True}}},
        description="The run's spans (run, queue wait, steps, LLM requests, tool calls), built from its records.",
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_or_404(request, run_id)
        params = validated(self.FilterSerializer, request.query_params)
        steps = list(step_list(actor=api_actor(request), run_id=run.id).only(*_STEP_FIELDS))
        tools = list(run_tool_results(run=run).only("step_id", "name", "tool_call_id", "is_err", "text"))
        return Response(run_trace(run, steps, tools, limit=params["limit"]))


_STEP_FIELDS = (
    "id",
    "run_id",
    "agent_id",
    "index",
    "model",
    "error",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "created_at",
)


class StepTraceApi(ApiView):
    @extend_schema(
        operation_id="retrieve_trace_for_step",
        responses={200: OpenApiTypes.OBJECT},
        description="The step's provider trace: the exact request sent to the model and its response.",
    )
    def get(self, request: Request, step_id: str) -> Response:
        step = step_or_404(request, step_id)
        return Response(step_trace(step, agent_tags=agent_tags(agent=step.agent)))
