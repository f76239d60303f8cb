import uuid

from django.core.exceptions import ValidationError
from django.http import Http404

from accounts.http import AuthedHttpRequest
from agents.models import Agent
from agents.selectors import agent_get

TEMPLATE = "ade/agent_detail.html"  # the agent workspace: chat and panels


def agent_or_404(request: AuthedHttpRequest, agent_id: uuid.UUID) -> Agent:
    """The agent if the signed-in user's organization owns it; a 404 for everyone else (never a 403)."""
    try:
        return agent_get(actor=request.user, agent_id=agent_id)
    except Agent.DoesNotExist:
        raise Http404 from None


def page_or_partial(request: AuthedHttpRequest, template: str, partial: str) -> str:
    """The whole page for a normal request, the named partial for an htmx swap."""
    return f"{template}#{partial}" if request.htmx and not request.htmx.boosted else template


def field_errors(errors: ValidationError | dict[str, list[str]]) -> str:
    """`field: reason; …`, so a refused filter names what to fix."""
    by_field = errors if isinstance(errors, dict) else getattr(errors, "message_dict", {"": errors.messages})
    return "; ".join(f"{name}: {' '.join(msgs)}" if name else " ".join(msgs) for name, msgs in by_field.items())
