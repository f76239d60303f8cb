"""Runs (one per request to an agent) and their steps (one LLM call each)."""

from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from agents.models import RunStatus, StopReason
from agents.selectors import message_org_list, run_list, run_tools_used, step_list
from agents.services.runs import run_delete, step_feedback_update
from api import wire
from api.base import ApiView, validated
from api.lookups import run_or_404, step_or_404
from api.pagination import CursorParams, cursor_id, paginate_by
from api.schemas import (
    LettaMessageSchema,
    RunMetricsSchema,
    RunSchema,
    RunUsageSchema,
    StepMetricsSchema,
    StepSchema,
)
from api.views.messages import MAX_LIST, MessageListParams, message_options, message_page, org_message_page
from api.views.streaming import sse_response, stream_subscribe

S = serializers
WIRE_TO_STATUS = {v: k for k, v in wire.RUN_STATUS.items()}


class RunListApi(ApiView):
    class FilterSerializer(CursorParams):
        order = S.ChoiceField(choices=["asc", "desc"], required=False, default="desc")
        agent_id = S.CharField(required=False, allow_null=True)
        agent_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)
        statuses = S.ListField(child=S.CharField(), required=False, allow_null=True)
        active = S.BooleanField(required=False, default=False)
        stop_reason = S.ChoiceField(choices=StopReason.wire_values(), required=False, allow_null=True)
        conversation_id = S.CharField(required=False, allow_null=True, help_text="A conversation's runs")

    @extend_schema(operation_id="list_runs", parameters=[FilterSerializer], responses={200: RunSchema(many=True)})
    def get(self, request: Request) -> Response:
        params = validated(self.FilterSerializer, request.query_params)
        statuses = [WIRE_TO_STATUS.get(s, s) for s in params.get("statuses") or []]
        if params["active"]:
            statuses += [RunStatus.QUEUED, RunStatus.RUNNING]
        qs = run_list(
            actor=api_actor(request),
            agent_id=cursor_id("agent", params.get("agent_id"), field="agent_id"),
            statuses=statuses or None,
        )
        agent_ids = [cursor_id("agent", a, field="agent_ids") for a in params.get("agent_ids") or [] if a]
        if agent_ids:
            qs = qs.filter(agent_id__in=[a for a in agent_ids if a is not None])
        if params.get("stop_reason"):
            qs = qs.filter(stop_reason__in=StopReason.stored_as(params["stop_reason"]))
        conversation = cursor_id("conv", params.get("conversation_id"), field="conversation_id")
        if conversation is not None:
            qs = qs.filter(conversation_id=conversation)
        page = paginate_by(qs, prefix="run", params=params)
        return Response([wire.run_to_wire(r) for r in page])


class RunDetailApi(ApiView):
    @extend_schema(operation_id="retrieve_run", responses={200: RunSchema})
    def get(self, request: Request, run_id: str) -> Response:
        return Response(wire.run_to_wire(run_or_404(request, run_id)))

    @extend_schema(operation_id="delete_run", responses={200: RunSchema})
    def delete(self, request: Request, run_id: str) -> Response:
        """Delete the run and its steps; a queued or running run is cancelled first. Its messages stay in the
        agent's history. Answers the run as it was last."""
        return Response(wire.run_to_wire(run_delete(run=run_or_404(request, run_id))))


class RunMetricsApi(ApiView):
    @extend_schema(operation_id="retrieve_run_metrics", responses={200: RunMetricsSchema})
    def get(self, request: Request, run_id: str) -> Response:
        run = run_or_404(request, run_id)
        return Response(wire.run_metrics_to_wire(run, run_tools_used(run=run)))


class RunMessageListApi(ApiView):
    class FilterSerializer(MessageListParams):
        order = S.ChoiceField(choices=["asc", "desc"], required=False, default="asc")

    @extend_schema(
        operation_id="list_run_messages", parameters=[FilterSerializer], responses={200: LettaMessageSchema(many=True)}
    )
    def get(self, request: Request, run_id: str) -> Response:
        run = run_or_404(request, run_id)
        params = validated(self.FilterSerializer, request.query_params)
        return Response(message_page(request, agent_id=run.agent_id, params=params, run_id=run.id))


class RunStreamApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        # A client that kept the seq_id of its last frame (a token delta has none: null) passes it back.
        starting_after = S.IntegerField(required=False, default=0, min_value=0, allow_null=True)
        include_pings = S.BooleanField(required=False, allow_null=True, default=True)
        poll_interval = S.FloatField(required=False, allow_null=True)
        batch_size = S.IntegerField(required=False, allow_null=True)

    @extend_schema(
        operation_id="retrieve_stream",
        request=InputSerializer,
        responses={200: OpenApiResponse(description="Server-sent events, as for a streamed send (no token deltas)")},
    )
    def post(self, request: Request, run_id: str) -> HttpResponseBase:
        """(Re)attach to a run's stream: its stored messages after seq `starting_after`, then live until it ends."""
        run = run_or_404(request, run_id)
        data = validated(self.InputSerializer, request.data)
        return sse_response(
            actor=api_actor(request),
            run=run,
            subscription=stream_subscribe(run.agent_id),
            options=message_options(run.options or {}),
            types=(run.options or {}).get("include_return_message_types"),
            stream_tokens=False,
            include_pings=bool(data.get("include_pings")),
            starting_after=data["starting_after"] or 0,
        )


class RunStepListApi(ApiView):
    @extend_schema(operation_id="list_run_steps", parameters=[CursorParams], responses={200: StepSchema(many=True)})
    def get(self, request: Request, run_id: str) -> Response:
        run = run_or_404(request, run_id)
        params = validated(CursorParams, request.query_params)
        page = paginate_by(
            step_list(actor=api_actor(request), run_id=run.id), prefix="step", params=params, keys=("index", "id")
        )
        return Response([wire.step_to_wire(s) for s in page])


class RunUsageApi(ApiView):
    @extend_schema(operation_id="retrieve_run_usage", responses={200: RunUsageSchema})
    def get(self, request: Request, run_id: str) -> Response:
        run = run_or_404(request, run_id)
        usage: dict[str, Any] = {
            "prompt_tokens": run.prompt_tokens,
            "completion_tokens": run.completion_tokens,
            "total_tokens": run.total_tokens,
            "prompt_tokens_details": None,
            "completion_tokens_details": None,
        }
        return Response(usage)


class StepListApi(ApiView):
    class FilterSerializer(CursorParams):
        order = S.ChoiceField(choices=["asc", "desc"], required=False, default="desc")
        agent_id = S.CharField(required=False, allow_null=True)
        model = S.CharField(required=False, allow_null=True)

    @extend_schema(operation_id="list_steps", parameters=[FilterSerializer], responses={200: StepSchema(many=True)})
    def get(self, request: Request) -> Response:
        params = validated(self.FilterSerializer, request.query_params)
        qs = step_list(actor=api_actor(request), agent_id=cursor_id("agent", params.get("agent_id"), field="agent_id"))
        if params.get("model"):
            qs = qs.filter(model=params["model"])
        page = paginate_by(qs, prefix="step", params=params)
        return Response([wire.step_to_wire(s) for s in page])


class StepDetailApi(ApiView):
    @extend_schema(operation_id="retrieve_step", responses={200: StepSchema})
    def get(self, request: Request, step_id: str) -> Response:
        return Response(wire.step_to_wire(step_or_404(request, step_id)))


class StepMessageListApi(ApiView):
    class FilterSerializer(CursorParams):
        limit = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_LIST, default=100)
        order = S.ChoiceField(choices=["asc", "desc"], required=False, default="desc")

    @extend_schema(
        operation_id="list_step_messages", parameters=[FilterSerializer], responses={200: LettaMessageSchema(many=True)}
    )
    def get(self, request: Request, step_id: str) -> Response:
        """The messages the step wrote (the model's answer and its tool results), as LettaMessages."""
        step = step_or_404(request, step_id)
        params = validated(self.FilterSerializer, request.query_params)
        return Response(org_message_page(message_org_list(actor=api_actor(request), step_id=step.id), params))


class StepMetricsApi(ApiView):
    @extend_schema(operation_id="retrieve_step_metrics", responses={200: StepMetricsSchema})
    def get(self, request: Request, step_id: str) -> Response:
        return Response(wire.step_metrics_to_wire(step_or_404(request, step_id)))


class StepFeedbackApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        feedback = S.ChoiceField(choices=["positive", "negative"], required=False, allow_null=True)
        tags = S.ListField(child=S.CharField(max_length=200), required=False, allow_null=True, max_length=100)

    @extend_schema(operation_id="add_feedback", request=InputSerializer, responses={200: StepSchema})
    def patch(self, request: Request, step_id: str) -> Response:
        """Set (or, with null, clear) the step's feedback and add feedback tags."""
        step = step_or_404(request, step_id)
        data = validated(self.InputSerializer, request.data)
        updated = step_feedback_update(
            step=step,
            feedback=data.get("feedback"),
            clear_feedback="feedback" in data and data["feedback"] is None,
            tags=data.get("tags"),
        )
        return Response(wire.step_to_wire(updated))
