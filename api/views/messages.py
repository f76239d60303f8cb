"""Messages of an agent: send (JSON, SSE, or async → Run), list, cancel, reset, summarize.

Failures of a send carry `x-should-retry: false`: the Letta SDKs retry 408/409/429/5xx otherwise, and a retried
send is only safe because of `otid` de-duplication, which older clients do not set."""

import uuid
from typing import Any, Literal

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import api_actor
from agents.models import Agent, Conversation, Message, MessageRole, Run, RunStatus, StopReason
from agents.runtime.recall import MAX_LIMIT as RECALL_MAX_LIMIT
from agents.runtime.recall import MessageHit, message_search_organization
from agents.runtime.waiting import TERMINAL_STATUSES, run_wait
from agents.selectors import ALL_CONVERSATIONS, message_list, message_org_list, run_list
from agents.services.messages import agent_summarize, message_update, messages_reset
from agents.services.runs import run_cancel, run_create
from api import wire
from api.base import ApiView, validated
from api.lookups import JSONAnyField, agent_or_404, message_or_404, run_or_404
from api.pagination import cursor_id, paginate_by
from api.schemas import (
    MESSAGE_TYPES,
    AgentStateSchema,
    CompactionSchema,
    LettaMessageSchema,
    LettaResponseSchema,
    RunSchema,
)
from api.views.agents import agent_response
from api.views.streaming import sse_response, stream_subscribe
from lib.ids import public_id
from memory.embeddings import MAX_QUERY_CHARS
from memory.search import SearchMode

S = serializers
# How long a synchronous send waits for its run; past it the client gets a 504 and can poll the run.
SYNC_WAIT_SECONDS = 600
MAX_LIST = 1000


class SendTimeout(APIException):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_detail = "The agent is still working."


class LLMFailure(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The model provider failed."


class NoRetryOnFailure(ApiView):
    """Mark every failed response of a send as not retryable (see the module docstring)."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method == "POST" and response.status_code >= 400:
            response["x-should-retry"] = "false"
        return response


class MessageInput(S.Serializer[Any]):
    type = S.ChoiceField(choices=["message", "approval", "tool_return"], required=False, allow_null=True)
    role = S.ChoiceField(choices=["user", "system", "assistant"], required=False, default="user")
    content = JSONAnyField(required=False, allow_null=True)
    name = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    otid = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    sender_id = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    # type approval (Letta's ApprovalCreate) and type tool_return (MessageToolReturnCreate)
    approvals = JSONAnyField(required=False, allow_null=True)
    approve = S.BooleanField(required=False, allow_null=True, default=None)
    approval_request_id = S.CharField(required=False, allow_null=True, max_length=200)
    reason = S.CharField(required=False, allow_null=True, allow_blank=True, max_length=10_000)
    tool_returns = JSONAnyField(required=False, allow_null=True)
    group_id = S.CharField(required=False, allow_null=True, max_length=200)


class SendInput(S.Serializer[Any]):
    messages = MessageInput(many=True, required=False, allow_null=True)
    input = JSONAnyField(required=False, allow_null=True, help_text="Shorthand for one user message.")
    max_steps = S.IntegerField(required=False, default=50, min_value=1, max_value=1000)
    use_assistant_message = S.BooleanField(required=False, default=True)
    assistant_message_tool_name = S.CharField(required=False, default="send_message")
    assistant_message_tool_kwarg = S.CharField(required=False, default="message")
    include_return_message_types = S.ListField(
        child=S.ChoiceField(choices=MESSAGE_TYPES), required=False, allow_null=True
    )
    enable_thinking = S.CharField(required=False, allow_null=True)
    override_model = S.CharField(required=False, allow_null=True)
    client_tools = JSONAnyField(required=False, allow_null=True, help_text="[{name, description, parameters}]")


class StreamInput(SendInput):
    stream_tokens = S.BooleanField(required=False, default=False)
    include_pings = S.BooleanField(required=False, default=True)
    background = S.BooleanField(required=False, default=False)


class CreateInput(StreamInput):
    streaming = S.BooleanField(required=False, default=False)


class AsyncInput(SendInput):
    callback_url = S.URLField(required=False, allow_null=True, allow_blank=True)


def _input_messages(data: dict[str, Any]) -> list[dict[str, Any]]:
    if data.get("messages"):
        if data.get("input") is not None:
            raise S.ValidationError({"input": "give either messages or input, not both"})
        out = []
        for index, item in enumerate(data["messages"]):
            if not isinstance(item, dict):  # a null item passes the nested serializer (allow_null on the list)
                raise S.ValidationError({"messages": f"item {index}: must be a message object"})
            if item.get("type") in ("approval", "tool_return"):  # answers to held tool calls (run_create checks)
                out.append({k: v for k, v in item.items() if v is not None})
                continue
            if item.get("content") is None:
                raise S.ValidationError({"messages": f"item {index}: content is required"})
            message = {"role": item.get("role") or "user", "content": item["content"]}
            message.update({k: item[k] for k in ("name", "otid", "sender_id") if item.get(k)})
            out.append(message)
        return out
    if data.get("input") is not None:
        return [{"role": "user", "content": data["input"]}]
    raise S.ValidationError({"messages": "give messages or input"})


def _options(data: dict[str, Any], *, stream_tokens: bool = False) -> dict[str, Any]:
    options: dict[str, Any] = {"use_assistant_message": data["use_assistant_message"]}
    if stream_tokens:
        options["stream_tokens"] = True
    for key in ("override_model", "include_return_message_types", "enable_thinking", "client_tools"):
        if data.get(key) is not None:
            options[key] = data[key]
    return options


def message_options(data: dict[str, Any]) -> wire.MessageOptions:
    return wire.MessageOptions(
        use_assistant_message=data.get("use_assistant_message", True),
        assistant_message_tool_name=data.get("assistant_message_tool_name") or "send_message",
        assistant_message_tool_kwarg=data.get("assistant_message_tool_kwarg") or "message",
    )


def start_run(request: Request, agent: Agent, data: dict[str, Any], **extra: Any) -> Run:
    return run_create(
        actor=api_actor(request),
        agent=agent,
        messages=_input_messages(data),
        max_steps=data["max_steps"],
        **extra,
    )


def letta_response(request: Request, run: Run, data: dict[str, Any]) -> dict[str, Any]:
    rows = message_list(actor=api_actor(request), agent_id=run.agent_id, run_id=run.id, order="asc", limit=MAX_LIST)
    rows = [m for m in rows if not wire.is_run_input(m)]
    return {
        "messages": wire.messages_to_wire(rows, message_options(data), types=data.get("include_return_message_types")),
        "stop_reason": {
            "message_type": "stop_reason",
            "stop_reason": StopReason.of_run(status=run.status, value=run.stop_reason),
        },
        "usage": wire.usage_statistics([run]),
    }


class MessageCreateApi(NoRetryOnFailure):
    @extend_schema(
        operation_id="send_message",
        request=CreateInput,
        responses={
            200: OpenApiResponse(LettaResponseSchema, description="JSON, or an SSE stream when streaming is true")
        },
    )
    def post(self, request: Request, agent_id: str) -> HttpResponseBase:
        agent = agent_or_404(request, agent_id)
        return send(request, agent, validated(CreateInput, request.data))


def send(
    request: Request, agent: Agent, data: dict[str, Any], conversation: Conversation | None = None
) -> HttpResponseBase:
    """A send to the agent's own history or one of its conversations: an SSE stream when `streaming`, else the
    LettaResponse once the run ends."""
    if data["streaming"]:
        return stream(request, agent, data, conversation)
    for key in ("stream_tokens", "background"):
        if isinstance(request.data, dict) and request.data.get(key):
            raise S.ValidationError({key: "only applies with streaming: true"})
    run = start_run(request, agent, data, options=_options(data), conversation=conversation)
    run = run_wait(run_id=run.id, timeout=SYNC_WAIT_SECONDS)
    if run.status not in TERMINAL_STATUSES:
        run_public = public_id("run", run.id)
        raise SendTimeout(f"Run {run_public} is still {run.status}; poll GET /v1/runs/{run_public}.")
    if run.status == RunStatus.FAILED and run.stop_reason == StopReason.LLM_API_ERROR:
        raise LLMFailure(f"The model provider failed: {run.error}" if run.error else None)
    return Response(letta_response(request, run, data))


def stream(
    request: Request, agent: Agent, data: dict[str, Any], conversation: Conversation | None = None
) -> HttpResponseBase:
    subscription = stream_subscribe(agent.id)
    try:
        options = _options(data, stream_tokens=data["stream_tokens"])
        run = start_run(request, agent, data, options=options, conversation=conversation)
    except Exception:
        subscription.close_sync()
        raise
    return sse_response(
        actor=api_actor(request),
        run=run,
        subscription=subscription,
        options=message_options(data),
        types=data.get("include_return_message_types"),
        stream_tokens=data["stream_tokens"],
        include_pings=data["include_pings"],
    )


class MessageStreamApi(NoRetryOnFailure):
    @extend_schema(
        operation_id="create_agent_message_stream",
        request=StreamInput,
        responses={200: OpenApiResponse(description="Server-sent events: LettaMessages, stop_reason, usage, [DONE]")},
    )
    def post(self, request: Request, agent_id: str) -> HttpResponseBase:
        agent = agent_or_404(request, agent_id)
        return stream(request, agent, validated(StreamInput, request.data))


class MessageAsyncApi(NoRetryOnFailure):
    @extend_schema(operation_id="create_agent_message_async", request=AsyncInput, responses={200: RunSchema})
    def post(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        data = validated(AsyncInput, request.data)
        run = start_run(request, agent, data, options=_options(data), callback_url=data.get("callback_url") or "")
        return Response(wire.run_to_wire(run))


class MessageListParams(S.Serializer[Any]):
    after = S.CharField(required=False, allow_null=True)
    before = S.CharField(required=False, allow_null=True)
    limit = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_LIST, default=100)
    order = S.ChoiceField(choices=["asc", "desc"], required=False, default="desc")
    order_by = S.ChoiceField(choices=["created_at"], required=False, default="created_at")
    include_err = S.BooleanField(required=False, allow_null=True, default=None)
    use_assistant_message = S.BooleanField(required=False, default=True)
    assistant_message_tool_name = S.CharField(required=False, default="send_message")
    assistant_message_tool_kwarg = S.CharField(required=False, default="message")
    group_id = S.CharField(required=False, allow_null=True)
    conversation_id = S.CharField(required=False, allow_null=True)


def message_page(
    request: Request,
    *,
    agent_id: uuid.UUID,
    params: dict[str, Any],
    run_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None | Literal["all"] = ALL_CONVERSATIONS,
) -> list[dict[str, Any]]:
    """A page of LettaMessages. Stored rows are paged (cursors are row ids, shared by a row's pieces) and a page
    holds whole rows only, so the next page's `after=<last id>` never skips the rest of an expanded row."""
    limit = params.get("limit") or 100
    order = params["order"]
    rows = message_list(
        actor=api_actor(request),
        agent_id=agent_id,
        after=cursor_id("message", params.get("after"), field="after"),
        before=cursor_id("message", params.get("before"), field="before"),
        limit=limit,
        order=order,
        run_id=run_id,
        conversation_id=conversation_id,
    )
    return expand_rows(rows, params)


def expand_rows(rows: list[Message], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The LettaMessages of a page of stored rows, whole rows only, up to `limit` pieces (see message_page)."""
    limit = params.get("limit") or 100
    order = params.get("order", "desc")
    options = message_options(params)
    out: list[dict[str, Any]] = []
    for row in rows:
        pieces = wire.message_to_wire(row, options)
        if params.get("include_err") is False:
            pieces = [p for p in pieces if not p.get("is_err")]
        if order == "desc":
            pieces.reverse()
        if out and len(out) + len(pieces) > limit:
            break
        out.extend(pieces)
    return out


class MessageListApi(ApiView):
    @extend_schema(
        operation_id="list_messages", parameters=[MessageListParams], responses={200: LettaMessageSchema(many=True)}
    )
    def get(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        params = validated(MessageListParams, request.query_params)
        raw = params.get("conversation_id")
        # Every conversation's messages (as Letta lists them), or one's: `default` is the agent's own history.
        conversation: uuid.UUID | None | Literal["all"] = ALL_CONVERSATIONS
        if raw:
            conversation = None if raw == "default" else cursor_id("conv", raw, field="conversation_id")
        return Response(message_page(request, agent_id=agent.id, params=params, conversation_id=conversation))


class MessageCancelApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        run_ids = S.ListField(child=S.CharField(), required=False, allow_null=True)

    @extend_schema(
        operation_id="cancel_agent_run",
        request=InputSerializer,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, agent_id: str) -> Response:
        """Cancel the agent's active runs (or the given ones). Answers `{run_id: status}` per run."""
        agent = agent_or_404(request, agent_id)
        data = validated(self.InputSerializer, request.data)
        if data.get("run_ids"):
            runs = [run_or_404(request, raw) for raw in data["run_ids"]]
            if any(r.agent_id != agent.id for r in runs):
                raise S.ValidationError({"run_ids": "every run must belong to this agent"})
        else:
            runs = list(
                run_list(actor=api_actor(request), agent_id=agent.id, statuses=[RunStatus.QUEUED, RunStatus.RUNNING])
            )
        result = {public_id("run", r.id): run_cancel(run=r).status for r in runs}
        return Response(result)


class MessageResetApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        add_default_initial_messages = S.BooleanField(required=False, default=False)

    @extend_schema(operation_id="reset_messages", request=InputSerializer, responses={200: AgentStateSchema})
    def patch(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        validated(self.InputSerializer, request.data)
        messages_reset(agent=agent)
        return agent_response(agent)


class SummarizeApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        compaction_settings = S.DictField(required=False, allow_null=True)
        max_message_length = S.IntegerField(required=False, allow_null=True)

    @extend_schema(operation_id="summarize_messages", request=InputSerializer, responses={200: CompactionSchema})
    def post(self, request: Request, agent_id: str) -> Response:
        agent = agent_or_404(request, agent_id)
        validated(self.InputSerializer, request.data)
        before = agent.messages.filter(in_context=True, conversation__isnull=True).count()  # its own history
        evicted = agent_summarize(agent=agent)
        agent.refresh_from_db(fields=["summary"])
        return Response(
            {"summary": agent.summary, "num_messages_before": before, "num_messages_after": before - evicted}
        )


class MessagesApi(MessageCreateApi):
    """`/agents/{id}/messages`: GET lists, POST sends (two operations on one route)."""

    get = MessageListApi.get


# The message types an edit may name (the OpenAPI enum is named in SPECTACULAR_SETTINGS).
EDITABLE_MESSAGE_TYPES = ["system_message", "user_message", "assistant_message", "reasoning_message"]


class MessageUpdateApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        message_type = S.ChoiceField(choices=EDITABLE_MESSAGE_TYPES, required=False)
        content = JSONAnyField(required=False, allow_null=True, help_text="A string or [{type: text, text}] parts.")
        reasoning = S.CharField(required=False, allow_blank=True, trim_whitespace=False)

    @extend_schema(operation_id="modify_message", request=InputSerializer, responses={200: LettaMessageSchema})
    def patch(self, request: Request, agent_id: str, message_id: str) -> Response:
        """Edit a message of the agent's history (Letta's UpdateSystemMessage/UserMessage/AssistantMessage/
        ReasoningMessage). Answers the edited LettaMessage."""
        agent = agent_or_404(request, agent_id)
        message = message_or_404(request, message_id, agent_id=agent.id)
        data = validated(self.InputSerializer, request.data)
        kind = data.get("message_type") or _default_update_type(message)
        updated = message_update(
            message=message, message_type=kind, content=data.get("content"), reasoning=data.get("reasoning")
        )
        pieces = wire.message_to_wire(updated)
        return Response(next((p for p in pieces if p["message_type"] == kind), pieces[0] if pieces else {}))


def _default_update_type(message: Message) -> str:
    """The SDKs always send message_type; a bare {content} edits the row's own kind of text."""
    return {
        MessageRole.SYSTEM: "system_message",
        MessageRole.USER: "user_message",
    }.get(MessageRole(message.role), "assistant_message")


class OrgMessageListParams(S.Serializer[Any]):
    after = S.CharField(required=False, allow_null=True)
    before = S.CharField(required=False, allow_null=True)
    limit = S.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_LIST, default=100)
    order = S.ChoiceField(choices=["asc", "desc"], required=False, default="desc")
    order_by = S.ChoiceField(choices=["created_at"], required=False, default="created_at")
    conversation_id = S.CharField(required=False, allow_null=True)


def org_message_page(qs: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """A page of LettaMessages from a queryset of stored rows (message_org_list), by (created_at, seq, id)."""
    rows = paginate_by(qs, prefix="message", params=params, keys=("created_at", "seq", "id"), default_limit=100)
    return expand_rows(rows, params)


class OrgMessageListApi(ApiView):
    @extend_schema(
        operation_id="list_all_messages",
        parameters=[OrgMessageListParams],
        responses={200: LettaMessageSchema(many=True)},
    )
    def get(self, request: Request) -> Response:
        """Messages of every agent of the organization, newest first by default."""
        params = validated(OrgMessageListParams, request.query_params)
        return Response(org_message_page(message_org_list(actor=api_actor(request)), params))


class OrgMessageDetailApi(ApiView):
    @extend_schema(operation_id="retrieve_message", responses={200: LettaMessageSchema(many=True)})
    def get(self, request: Request, message_id: str) -> Response:
        """One stored message, as the LettaMessages it expands to (a list, as the SDKs expect)."""
        return Response(wire.message_to_wire(message_or_404(request, message_id)))


class MessageSearchResultSchema(S.Serializer[Any]):
    message_type = S.CharField(help_text="system_message, user_message, reasoning_message or assistant_message")
    message_id = S.CharField()
    agent_id = S.CharField()
    conversation_id = S.CharField(allow_null=True)
    created_at = S.DateTimeField()
    content = S.JSONField(required=False)
    reasoning = S.CharField(required=False)


SEARCH_MODES: dict[str, SearchMode] = {"hybrid": "hybrid", "vector": "vector", "fts": "text"}


class OrgMessageSearchApi(ApiView):
    class InputSerializer(S.Serializer[Any]):
        query = S.CharField(max_length=MAX_QUERY_CHARS)
        agent_id = S.CharField(required=False, allow_null=True)
        conversation_id = S.CharField(required=False, allow_null=True)
        search_mode = S.ChoiceField(choices=list(SEARCH_MODES), required=False, default="hybrid")
        limit = S.IntegerField(required=False, default=50, min_value=1, max_value=RECALL_MAX_LIMIT)
        start_date = S.DateTimeField(required=False, allow_null=True)
        end_date = S.DateTimeField(required=False, allow_null=True)

    @extend_schema(
        operation_id="search_all_messages",
        request=InputSerializer,
        responses={200: MessageSearchResultSchema(many=True)},
    )
    def post(self, request: Request) -> Response:
        """Search the organization's messages (or one agent's) with the recall search of conversation_search:
        hybrid by default, `fts` ranks by words only, `vector` by meaning only."""
        data = validated(self.InputSerializer, request.data)
        try:
            hits = _search(request, data)
        except Agent.DoesNotExist:
            raise NotFound(f"Agent {data.get('agent_id')} not found") from None
        results = [wire.message_search_result(hit.message) for hit in hits]
        return Response([r for r in results if r is not None])


def _search(request: Request, data: dict[str, Any]) -> list[MessageHit]:
    return message_search_organization(
        actor=api_actor(request),
        query=data["query"],
        agent_id=cursor_id("agent", data.get("agent_id"), field="agent_id"),
        roles=["user", "assistant", "system"],
        start=data.get("start_date"),
        end=data.get("end_date"),
        limit=data["limit"],
        mode=SEARCH_MODES[data["search_mode"]],
    )
