"""Approvals in the ADE: answer the agent's tool calls that wait for approval, and choose which tools wait."""

import uuid

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from accounts.http import AuthedHttpRequest
from ade.views.common import agent_or_404
from ade.views.conversations import selected_conversation
from ade.views.workspace import render_tools
from agents.models import Tool
from agents.runtime.tool_rules import approval_tools
from agents.selectors import tool_get
from agents.services.approvals import agent_tool_approval_set
from agents.services.runs import run_create

MAX_REASON = 2_000


@require_POST
def approval_answer(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """Approve or deny one waiting tool call (POST tool_call_id, decision=approve|deny, reason). The answer starts
    a run like any send; the chat re-reads itself (engram:run) and the run's messages arrive live."""
    agent = agent_or_404(request, agent_id)
    decision = request.POST.get("decision")
    reason = request.POST.get("reason", "").strip()[:MAX_REASON]
    answer = {
        "type": "approval",
        "tool_call_id": request.POST.get("tool_call_id", ""),
        "approve": decision == "approve",
    }
    if decision == "deny" and reason:
        answer["reason"] = reason
    try:
        if decision not in ("approve", "deny"):
            raise ValidationError({"decision": "must be approve or deny"})
        run_create(
            actor=request.user,
            agent=agent,
            messages=[{"type": "approval", "approvals": [answer]}],
            options={"stream_tokens": True},
            conversation=selected_conversation(request, agent),  # the calls wait in the history the chat shows
        )
    except ValidationError as exc:
        response = HttpResponse(status=200)
        return trigger_client_event(response, "engram:notice", {"text": "; ".join(exc.messages)})
    return trigger_client_event(HttpResponse(status=200), "engram:run", {})


@require_POST
def tool_approval_toggle(request: AuthedHttpRequest, agent_id: uuid.UUID, tool_id: uuid.UUID) -> HttpResponse:
    """Switch whether calls of one of the agent's tools wait for approval; answers the Tools panel."""
    agent = agent_or_404(request, agent_id)
    try:
        tool = tool_get(actor=request.user, tool_id=tool_id)
        current = tool.name in approval_tools(agent.tool_rules)
        agent = agent_tool_approval_set(agent=agent, tool_name=tool.name, requires_approval=not current)
    except Tool.DoesNotExist:  # another organization's tool, or one the agent does not have
        raise Http404 from None
    return render_tools(request, agent)
