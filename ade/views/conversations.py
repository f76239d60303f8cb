"""The conversation switcher of the agent workspace: which of the agent's conversations the chat shows (the agent's
own history, or one of its conversations), and new / rename / delete. The choice is kept in the session per agent,
so every panel URL stays as it is."""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.http import AuthedHttpRequest
from ade.views.common import agent_or_404, id_or_404, or_404
from agents.models import Agent, Conversation
from agents.selectors import conversation_get, conversation_list
from agents.services.conversations import conversation_create, conversation_delete, conversation_update

MAX_LISTED = 100


def _key(agent: Agent) -> str:
    return f"ade:conversation:{agent.pk}"


def selected_conversation(request: AuthedHttpRequest, agent: Agent) -> Conversation | None:
    """The conversation the chat shows (None: the agent's own history). A stale or foreign choice is dropped."""
    raw = request.session.get(_key(agent))
    if not raw:
        return None
    try:
        conversation = conversation_get(actor=request.user, conversation_id=uuid.UUID(raw))
    except (Conversation.DoesNotExist, ValueError):
        conversation = None
    if conversation is None or conversation.agent_id != agent.pk:
        request.session.pop(_key(agent), None)
        return None
    return conversation


def conversations_listed(request: AuthedHttpRequest, agent: Agent) -> list[Conversation]:
    qs = conversation_list(actor=request.user, agent_id=agent.pk, archive_status="all", include_hidden=True)
    return list(qs.order_by("-created_at", "-id")[:MAX_LISTED])


def _conversation_or_404(request: AuthedHttpRequest, agent: Agent, conversation_id: uuid.UUID) -> Conversation:
    with or_404():
        conversation = conversation_get(actor=request.user, conversation_id=conversation_id)
    if conversation.agent_id != agent.pk:
        raise Http404
    return conversation


def _back(request: AuthedHttpRequest, agent: Agent) -> HttpResponse:
    url = reverse("ade:agent-detail", args=[agent.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_POST
def conversation_switch(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """Show another conversation in the chat (`conversation` empty: the agent's own history)."""
    agent = agent_or_404(request, agent_id)
    raw = request.POST.get("conversation", "")
    if raw:
        conversation = _conversation_or_404(request, agent, id_or_404(raw))
        request.session[_key(agent)] = str(conversation.pk)
    else:
        request.session.pop(_key(agent), None)
    return _back(request, agent)


@require_POST
def conversation_create_view(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    try:
        conversation = conversation_create(
            actor=request.user, agent=agent, summary=request.POST.get("summary", "").strip() or "New conversation"
        )
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        request.session[_key(agent)] = str(conversation.pk)
    return _back(request, agent)


@require_POST
def conversation_rename_view(
    request: AuthedHttpRequest, agent_id: uuid.UUID, conversation_id: uuid.UUID
) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    conversation = _conversation_or_404(request, agent, conversation_id)
    try:
        conversation_update(actor=request.user, conversation=conversation, summary=request.POST.get("summary", ""))
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    return _back(request, agent)


@require_POST
def conversation_delete_view(
    request: AuthedHttpRequest, agent_id: uuid.UUID, conversation_id: uuid.UUID
) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    conversation_delete(conversation=_conversation_or_404(request, agent, conversation_id))
    if request.session.get(_key(agent)) == str(conversation_id):
        request.session.pop(_key(agent), None)
    messages.success(request, "Conversation deleted.")
    return _back(request, agent)
