"""Conversations (`/v1/conversations/…`): threads of one agent with their own history, window and running summary,
sharing the agent's memory. The id `default` with an `agent_id` (and, deprecated, an agent id in its place) is the
agent's own history: the same rows as `/v1/agents/{id}/messages`.

A send to a conversation that is busy is queued behind its active run (as sends to an agent are), never refused
with Letta's 409 "conversation busy": letta-code and the SDKs retry that 409 after a delay, so queueing gives the
same outcome sooner, in order, with nothing lost. Sends to different conversations of one agent run side by side."""

import uuid
from typing import Any

from django.http import HttpResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from agents.models import ACTIVE_RUN_STATUSES, Agent, Conversation, Run
from agents.selectors import conversation_list, conversation_search, run_list
from agents.services.agents import agent_recompile
from agents.services.conversations import (
    conversation_create,
    conversation_delete,
    conversation_fork,
    conversation_update,
)
from agents.services.messages import agent_summarize
from agents.services.runs import run_cancel
from api import wire
from api.base import ApiView, validated
from api.lookups import agent_or_404, conversation_or_404, present
from api.pagination import CursorParams, cursor_id, paginate_by
from api.schemas import CompactionSchema, LettaMessageSchema
from api.views.messages import CreateInput, MessageListParams, NoRetryOnFailure, message_options, message_page, send
from api.views.streaming import sse_response, stream_subscribe
from lib.ids import public_id

S = serializers
DEFAULT = "default"


def thread_or_404(request: Request, conversation_id: str, agent_id: str | None) -> tuple[Agent, Conversation | None]:
    """The agent and conversation a path names: `default` + `agent_id` (or, deprecated, an agent id in the path)
    is the agent's own history (no conversation)."""
    if conversation_id == DEFAULT:
        if not agent_id:
            raise S.ValidationError({"agent_id": "is required with the conversation id 'default'"})
        return agent_or_404(request, agent_id), None
    if conversation_id.startswith("agent-"):
        return agent_or_404(request, conversation_id), None
    conversation = conversation_or_404(request, conversation_id)
    if agent_id and agent_or_404(request, agent_id).pk != conversation.agent_id:
        raise S.ValidationError({"agent_id": "the conversation belongs to another agent"})
    return conversation.agent, conversation


def _agent_id_param(request: Request) -> str | None:
    """`agent_id` from the query or the JSON body (the SDKs send it in either place, by route)."""
    raw = request.query_params.get("agent_id")
    if not raw and isinstance(request.data, dict):
        raw = request.data.get("agent_id")
    if raw is not None and not isinstance(raw, str):
        raise S.ValidationError({"agent_id": "must be an agent id"})
    return raw or None


class ConversationSchema(S.Serializer[Any]):
    """Letta's Conversation (documentation only)."""

    id = S.CharField()
    agent_id = S.CharField()
    summary = S.CharField(allow_null=True)
    description = S.CharField(allow_null=True)
    archived = S.BooleanField()
    archived_at = S.DateTimeField(allow_null=True)
    last_message_at = S.DateTimeField(allow_null=True)
    model = S.CharField(allow_null=True)
    context_window_limit = S.IntegerField(allow_null=True)
    created_at = S.DateTimeField()
    updated_at = S.DateTimeField()


class ConversationFields(S.Serializer[Any]):
    summary = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=10_000)
    description = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=10_000)
    model = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    model_settings = S.DictField(required=False, allow_null=True)
    context_window_limit = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=10_000_000)


FIELD_NAMES = ("summary", "description", "model", "model_settings", "context_window_limit")


class ConversationListParams(CursorParams):
    agent_id = S.CharField(required=False, allow_null=True)
    archive_status = S.ChoiceField(choices=["unarchived", "archived", "all"], required=False, default="unarchived")
    order = S.ChoiceField(choices=["asc", "desc"], required=False, default="desc")
    order_by = S.ChoiceField(
        choices=["created_at", "last_run_completion", "last_message_at"], required=False, default="created_at"
    )
    summary_search = S.CharField(required=False, allow_null=True, max_length=1000)
    limit = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=1000, default=50)


class ConversationListCreateApi(ApiView):
    class CreateInput(ConversationFields):
        hidden = S.BooleanField(required=False, default=False)

    class CreateParams(S.Serializer[Any]):
        agent_id = S.CharField()

    @extend_schema(
        operation_id="list_conversations",
        parameters=[ConversationListParams],
        responses={200: ConversationSchema(many=True)},
    )
    def get(self, request: Request) -> Response:
        """The organization's conversations (of one agent), newest first by default. The agent's own history is
        not listed (it has no id of its own: `default`)."""
        params = validated(ConversationListParams, request.query_params)
        agent_id = params.get("agent_id")
        agent = agent_or_404(request, agent_id) if agent_id else None
        qs = conversation_list(
            actor=api_actor(request),
            agent_id=agent.pk if agent else None,
            archive_status=params["archive_status"],
            summary_search=params.get("summary_search"),
        )
        # Letta's last_run_completion has no column here; the last message is the closest and is what it tracks.
        keys = ("created_at", "id") if params["order_by"] == "created_at" else ("last_message_at", "created_at", "id")
        page = paginate_by(qs, prefix="conv", params=params, keys=keys)
        return Response([wire.conversation_to_wire(c) for c in page])

    @extend_schema(
        operation_id="create_conversation",
        parameters=[CreateParams],
        request=CreateInput,
        responses={200: ConversationSchema},
    )
    def post(self, request: Request) -> Response:
        params = validated(self.CreateParams, request.query_params)
        agent = agent_or_404(request, params["agent_id"])
        data = validated(self.CreateInput, request.data)
        fields = present(data, *FIELD_NAMES, "hidden")
        conversation = conversation_create(actor=api_actor(request), agent=agent, **fields)
        return Response(wire.conversation_to_wire(conversation))


class ConversationDetailApi(ApiView):
    class UpdateInput(ConversationFields):
        archived = S.BooleanField(required=False)
        last_message_at = S.DateTimeField(required=False, allow_null=True)

    @extend_schema(operation_id="retrieve_conversation", responses={200: ConversationSchema})
    def get(self, request: Request, conversation_id: str) -> Response:
        return Response(wire.conversation_to_wire(conversation_or_404(request, conversation_id)))

    @extend_schema(operation_id="update_conversation", request=UpdateInput, responses={200: ConversationSchema})
    def patch(self, request: Request, conversation_id: str) -> Response:
        conversation = conversation_or_404(request, conversation_id)
        data = validated(self.UpdateInput, request.data)
        fields = present(data, *FIELD_NAMES, "archived", "last_message_at")
        conversation = conversation_update(actor=api_actor(request), conversation=conversation, **fields)
        return Response(wire.conversation_to_wire(conversation))

    @extend_schema(operation_id="delete_conversation", responses={200: OpenApiTypes.NONE})
    def delete(self, request: Request, conversation_id: str) -> Response:
        """Delete the conversation with its messages (its active runs are cancelled); the agent's memory stays."""
        conversation_delete(conversation=conversation_or_404(request, conversation_id))
        return Response(None)


class ConversationCreateInput(CreateInput):
    agent_id = S.CharField(required=False, allow_null=True)
    streaming = S.BooleanField(required=False, default=True)


class ConversationMessagesApi(NoRetryOnFailure):
    """`/conversations/{id}/messages`: GET lists the conversation's messages, POST sends (streamed by default)."""

    class ListParams(MessageListParams):
        agent_id = S.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="list_conversation_messages",
        parameters=[ListParams],
        responses={200: LettaMessageSchema(many=True)},
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        agent, conversation = thread_or_404(request, conversation_id, _agent_id_param(request))
        params = validated(self.ListParams, request.query_params)
        conversation_pk = conversation.pk if conversation else None
        return Response(message_page(request, agent_id=agent.pk, params=params, conversation_id=conversation_pk))

    @extend_schema(
        operation_id="send_conversation_message",
        request=ConversationCreateInput,
        responses={200: OpenApiResponse(description="Server-sent events (or a LettaResponse with streaming false)")},
    )
    def post(self, request: Request, conversation_id: str) -> HttpResponseBase:
        # The conversation first: another organization's is a 404 whatever the body holds.
        agent, conversation = thread_or_404(request, conversation_id, _agent_id_param(request))
        return send(request, agent, validated(ConversationCreateInput, request.data), conversation)


def _latest_active_run(request: Request, agent: Agent, conversation: Conversation | None) -> Run | None:
    runs = run_list(
        actor=api_actor(request),
        agent_id=agent.pk,
        conversation_id=conversation.pk if conversation else None,
    )
    return (
        runs.filter(status__in=ACTIVE_RUN_STATUSES).order_by("-position").first() or runs.order_by("-position").first()
    )


class ConversationStreamApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        agent_id = S.CharField(required=False, allow_null=True)
        run_id = S.CharField(required=False, allow_null=True)
        otid = S.CharField(required=False, allow_null=True, max_length=200)
        starting_after = S.IntegerField(required=False, default=0, min_value=0)
        include_pings = S.BooleanField(required=False, allow_null=True, default=True)
        poll_interval = S.FloatField(required=False, allow_null=True)
        batch_size = S.IntegerField(required=False, allow_null=True)

    @extend_schema(
        operation_id="retrieve_conversation_stream",
        request=InputSerializer,
        responses={200: OpenApiResponse(description="Server-sent events of the conversation's latest run")},
    )
    def post(self, request: Request, conversation_id: str) -> HttpResponseBase:
        """(Re)attach to the stream of the conversation's active run (else its latest), or of the run named by
        `run_id` or by the `otid` of its input: its messages after seq `starting_after`, then live until it ends."""
        agent, conversation = thread_or_404(request, conversation_id, _agent_id_param(request))
        data = validated(self.InputSerializer, request.data)
        runs = run_list(
            actor=api_actor(request), agent_id=agent.pk, conversation_id=conversation.pk if conversation else None
        )
        run: Run | None
        run_id = cursor_id("run", data.get("run_id"), field="run_id")
        if run_id is not None:
            run = runs.filter(id=run_id).first()
        elif data.get("otid"):
            run = runs.filter(messages__otid=data["otid"]).first()
        else:
            run = _latest_active_run(request, agent, conversation)
        if run is None:
            raise NotFound("No run found for this conversation")
        return sse_response(
            actor=api_actor(request),
            run=run,
            subscription=stream_subscribe(agent.pk),
            options=message_options(run.options or {}),
            types=(run.options or {}).get("include_return_message_types"),
            stream_tokens=False,
            include_pings=bool(data.get("include_pings")),
            starting_after=data["starting_after"],
        )


class ConversationCancelApi(ApiView):
    class Params(S.Serializer[Any]):
        agent_id = S.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="cancel_conversation", parameters=[Params], request=None, responses={200: OpenApiTypes.OBJECT}
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        """Cancel the conversation's active runs. Answers `{run_id: status}` per run."""
        agent, conversation = thread_or_404(request, conversation_id, _agent_id_param(request))
        runs = run_list(
            actor=api_actor(request),
            agent_id=agent.pk,
            conversation_id=conversation.pk if conversation else None,
            statuses=list(ACTIVE_RUN_STATUSES),
        )
        return Response({public_id("run", r.id): run_cancel(run=r).status for r in runs})


class ConversationCompactApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        agent_id = S.CharField(required=False, allow_null=True)
        compaction_settings = S.DictField(required=False, allow_null=True)

    @extend_schema(operation_id="compact_conversation", request=InputSerializer, responses={200: CompactionSchema})
    def post(self, request: Request, conversation_id: str) -> Response:
        """Fold the conversation's oldest in-context messages into its running summary now."""
        agent, conversation = thread_or_404(request, conversation_id, _agent_id_param(request))
        validated(self.InputSerializer, request.data)
        conversation_pk = conversation.pk if conversation else None
        before = _in_context(agent, conversation_pk)
        evicted = agent_summarize(agent=agent, conversation_id=conversation_pk)
        if conversation is None:
            agent.refresh_from_db(fields=["summary"])
            summary = agent.summary
        else:
            conversation.refresh_from_db(fields=["context_summary"])
            summary = conversation.context_summary
        return Response({"summary": summary, "num_messages_before": before, "num_messages_after": before - evicted})


def _in_context(agent: Agent, conversation_id: uuid.UUID | None) -> int:
    from agents.runtime.history import messages_of

    return messages_of(agent.pk, conversation_id).filter(in_context=True).count()


class ConversationRecompileApi(ApiView):
    class Params(S.Serializer[Any]):
        dry_run = S.BooleanField(required=False, default=False)

    class InputSerializer(S.Serializer[Any]):
        agent_id = S.CharField(required=False, allow_null=True)
        compaction_settings = S.DictField(required=False, allow_null=True)

    @extend_schema(
        operation_id="recompile_conversation",
        parameters=[Params],
        request=InputSerializer,
        responses={(200, "text/plain"): OpenApiTypes.STR},
    )
    def post(self, request: Request, conversation_id: str) -> HttpResponse:
        """Rebuild the system prompt from the agent's current memory (shared by all its conversations: every
        conversation sees the memory as it is now) and answer it as plain text."""
        agent, _ = thread_or_404(request, conversation_id, _agent_id_param(request))
        params = validated(self.Params, request.query_params)
        validated(self.InputSerializer, request.data if isinstance(request.data, dict) else {})
        compiled = agent_recompile(agent=agent, dry_run=params["dry_run"])
        return HttpResponse(compiled, content_type="text/plain; charset=utf-8")


class ConversationForkApi(ApiView):
    class Params(S.Serializer[Any]):
        agent_id = S.CharField(required=False, allow_null=True)
        hidden = S.BooleanField(required=False, default=False)
        message_id = S.CharField(required=False, allow_null=True)

    @extend_schema(
        operation_id="fork_conversation", parameters=[Params], request=None, responses={200: ConversationSchema}
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        """A new conversation that starts from this one's context window (up to `message_id`, when given): copies
        of its in-context messages and its running summary."""
        agent, conversation = thread_or_404(request, conversation_id, _agent_id_param(request))
        params = validated(self.Params, request.query_params)
        fork = conversation_fork(
            actor=api_actor(request),
            agent=agent,
            source=conversation,
            up_to=cursor_id("message", params.get("message_id"), field="message_id"),
            hidden=params["hidden"],
        )
        return Response(wire.conversation_to_wire(fork))


class ConversationSearchApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        query = S.CharField(max_length=2000)
        agent_id = S.CharField(required=False, allow_null=True)
        limit = S.IntegerField(required=False, default=20, min_value=1, max_value=100)
        search_mode = S.ChoiceField(choices=["hybrid", "vector", "fts"], required=False, default="hybrid")
        search_target = S.ChoiceField(choices=["description", "summary"], required=False, default="description")

    class ResultSchema(S.Serializer[Any]):
        embedded_text = S.CharField()
        conversation = ConversationSchema()
        rrf_score = S.FloatField()

    @extend_schema(
        operation_id="search_conversations", request=InputSerializer, responses={200: ResultSchema(many=True)}
    )
    def post(self, request: Request) -> Response:
        """Conversations whose description (or summary) holds the query's words, best first (every mode ranks by
        the share of the query's words the field holds)."""
        data = validated(self.InputSerializer, request.data)
        agent = agent_or_404(request, data["agent_id"]) if data.get("agent_id") else None
        hits = conversation_search(
            actor=api_actor(request),
            query=data["query"],
            agent_id=agent.pk if agent else None,
            target=data["search_target"],
            limit=data["limit"],
        )
        return Response(
            [
                {
                    "embedded_text": h.text,
                    "conversation": wire.conversation_to_wire(h.conversation),
                    "rrf_score": h.score,
                }
                for h in hits
            ]
        )
