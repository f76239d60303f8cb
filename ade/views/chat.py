"""The chat of the agent workspace: the history it shows (the selected conversation's, or the agent's own), its live
tail and older pages, sending, and the run banner (status, cancel, retry)."""

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from accounts.http import AuthedHttpRequest
from ade import presenters
from ade.forms import (
    ChatForm,
)
from ade.views.common import TEMPLATE, agent_or_404, field_errors, or_404
from ade.views.conversations import conversations_listed, selected_conversation
from agents.messages import stored_parts
from agents.models import ACTIVE_RUN_STATUSES, Agent, Conversation, Message, Run, RunStatus
from agents.runtime.history import messages_of
from agents.selectors import pending_calls, run_get
from agents.services.runs import run_cancel, run_create

CHAT_PAGE = 40
TAIL_LIMIT = 500


def chat_context(request: AuthedHttpRequest, agent: Agent) -> dict[str, Any]:
    conversation = selected_conversation(request, agent)
    history = _history(agent, conversation)
    latest = list(history.filter(seq__isnull=False).order_by("-seq")[: CHAT_PAGE + 1])
    anchor, has_older = _page_start(history, latest)
    return {
        "items": _chat_items(agent, conversation, _tail(history, anchor or 0)),
        "anchor": anchor,
        "has_older": has_older,
        "runs_active": _active_runs(agent, conversation),
        "conversation": conversation,
        "conversations": conversations_listed(request, agent),
    }


def _history(agent: Agent, conversation: Conversation | None) -> "QuerySet[Message]":
    """The messages the chat shows: the selected conversation's (or the agent's own history)."""
    return messages_of(agent.pk, conversation.pk if conversation else None)


ANSWERS = ("tool", "approval")  # rows that answer a call of an earlier row


def _page_start(history: "QuerySet[Message]", newest_first: list[Message]) -> tuple[int, bool]:
    """Where a page of up to CHAT_PAGE messages starts, given up to CHAT_PAGE + 1 of them newest first, and
    whether older ones exist. A page never starts on a tool return or an approval but at the row with the call
    they answer, so the chat folds each return into its call (presenters.chat_items)."""
    if not newest_first:
        return 0, False
    first = newest_first[:CHAT_PAGE][-1]
    if first.role not in ANSWERS or first.seq is None:
        return first.seq or 0, len(newest_first) > CHAT_PAGE
    calls = history.filter(seq__lt=first.seq).exclude(role__in=ANSWERS).order_by("-seq")
    start = calls.values_list("seq", flat=True).first() or first.seq
    return start, history.filter(seq__lt=start).exists()


def _active_runs(agent: Agent, conversation: Conversation | None) -> list[Run]:
    runs = agent.runs.filter(status__in=ACTIVE_RUN_STATUSES)
    runs = runs.filter(conversation=conversation) if conversation else runs.filter(conversation__isnull=True)
    return list(runs.order_by("created_at"))


# Chat ------------------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def chat_messages(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """GET ?since=<seq>: the live tail from an anchor on (re-fetched on each event); ?before=<seq>: an older
    page. POST: send a message (a new run; the reply arrives over the websocket)."""
    agent = agent_or_404(request, agent_id)
    if request.method == "POST":
        return _chat_send(request, agent)
    conversation = selected_conversation(request, agent)
    history = _history(agent, conversation)
    try:
        since = int(request.GET["since"]) if "since" in request.GET else None
        before = int(request.GET["before"]) if "before" in request.GET else None
    except ValueError:
        raise Http404 from None
    if before is not None:
        older = list(history.filter(seq__lt=before).order_by("-seq")[: CHAT_PAGE + 1])
        start, has_older = _page_start(history, older)
        page = older[:CHAT_PAGE][::-1]
        if page and page[0].seq != start:  # extended back to the call its first rows answer
            page = list(history.filter(seq__gte=start, seq__lt=page[0].seq).order_by("seq")) + page
        context = {
            "agent": agent,
            "items": _chat_items(agent, conversation, page),
            "has_older": has_older,
            "oldest": start if page else before,
        }
        return render(request, f"{TEMPLATE}#chat-older", context)
    context = {
        "agent": agent,
        "items": _chat_items(agent, conversation, _tail(history, since or 0)),
        "anchor": since or 0,
    }
    return render(request, f"{TEMPLATE}#chat-tail", context)


def _chat_items(agent: Agent, conversation: Conversation | None, messages: list[Message]) -> list[presenters.ChatItem]:
    """Chat items, with a note on the last message of each shown run that failed or was cancelled, and the tool
    calls of the shown history (`conversation`, or the agent's own) that wait for approval."""
    run_ids = {m.run_id for m in messages if m.run_id}
    outcomes: dict[str, str] = {}
    failed: set[str] = set()
    if run_ids:
        ended = agent.runs.filter(pk__in=run_ids, status__in=[RunStatus.FAILED, RunStatus.CANCELLED])
        for run_id, status, error in ended.values_list("id", "status", "error"):
            if status == RunStatus.FAILED:
                failed.add(str(run_id))
                outcomes[str(run_id)] = presenters.failure_note(error)
            else:
                outcomes[str(run_id)] = "Run cancelled"
    pending = pending_calls(agent=agent, conversation_id=conversation.pk if conversation else None)
    return presenters.chat_items(messages, outcomes, frozenset(failed), pending)


def _tail(history: "QuerySet[Message]", since: int) -> list[Message]:
    """Messages from `since` on, then those still waiting in a queued run (they get a seq when it starts)."""
    # Newest first then reversed: past the cap the oldest of the tail drop out, never the latest.
    numbered = list(history.filter(seq__gte=since).order_by("-seq")[:TAIL_LIMIT])[::-1]
    pending = list(history.filter(seq__isnull=True).order_by("created_at", "id")[:TAIL_LIMIT])
    return numbered + pending


def _chat_send(request: AuthedHttpRequest, agent: Agent) -> HttpResponse:
    form = ChatForm(request.POST)
    if form.is_valid():
        try:
            run_create(
                actor=request.user,
                agent=agent,
                messages=[{"role": "user", "content": form.cleaned_data["text"]}],
                options={"stream_tokens": True},
                conversation=selected_conversation(request, agent),
            )
        except ValidationError as exc:
            form.add_error(None, "; ".join(exc.messages))
        else:
            response = render(
                request, f"{TEMPLATE}#chat-form", {"agent": agent, "chat_form": ChatForm(), "focus": True}
            )
            # The input is persisted: let the chat and the run banner re-read it at once.
            return trigger_client_event(response, "engram:run", {})
    return render(request, f"{TEMPLATE}#chat-form", {"agent": agent, "chat_form": form, "focus": True})


@require_GET
def run_status(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    return render(
        request,
        f"{TEMPLATE}#run-status",
        {"agent": agent, "runs_active": _active_runs(agent, selected_conversation(request, agent))},
    )


@require_POST
def run_retry_view(request: AuthedHttpRequest, agent_id: uuid.UUID, run_id: uuid.UUID) -> HttpResponse:
    """Send the input of a failed run again, as a new run (the chat and the run banner re-read themselves)."""
    agent = agent_or_404(request, agent_id)
    run = run_or_404(request, agent, run_id)
    sent = [{"role": "user", "content": stored_parts(m)} for m in run.messages.filter(role="user").order_by("seq")]
    if run.status != RunStatus.FAILED or not sent:
        return HttpResponse("Only a failed run with a message of yours can be retried.", status=422)
    try:
        run_create(
            actor=request.user,
            agent=agent,
            messages=sent,
            options={"stream_tokens": True},
            conversation=run.conversation,
        )
    except ValidationError as exc:
        return HttpResponse(field_errors(exc), status=422)
    return trigger_client_event(HttpResponse(""), "engram:run", {})


@require_POST
def run_cancel_view(request: AuthedHttpRequest, agent_id: uuid.UUID, run_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    run = run_or_404(request, agent, run_id)
    run_cancel(run=run)
    return render(
        request,
        f"{TEMPLATE}#run-status",
        {"agent": agent, "runs_active": _active_runs(agent, selected_conversation(request, agent))},
    )


def run_or_404(request: AuthedHttpRequest, agent: Agent, run_id: uuid.UUID) -> Run:
    with or_404():
        run = run_get(actor=request.user, run_id=run_id)
    if run.agent_id != agent.pk:
        raise Http404
    return run
