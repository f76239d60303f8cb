import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404

from accounts.http import AuthedHttpRequest
from agents.models import Agent, Tool
from agents.selectors import agent_get, tool_get

TEMPLATE = "ade/agent_detail.html"  # the agent workspace: chat and panels


@contextmanager
def or_404() -> Iterator[None]:
    """A selector's DoesNotExist in the block (another organization's object, or none at all) → a 404."""
    try:
        yield
    except ObjectDoesNotExist:
        raise Http404 from None


def id_or_404(raw: object) -> uuid.UUID:
    """An id from a form or a query string; a malformed one is a 404, as a missing object is."""
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise Http404 from None


def agent_or_404(request: AuthedHttpRequest, agent_id: uuid.UUID) -> Agent:
    """The agent if the signed-in user's organization owns it; a 404 for everyone else (never a 403)."""
    with or_404():
        return agent_get(actor=request.user, agent_id=agent_id)


def tool_or_404(request: AuthedHttpRequest, tool_id: uuid.UUID) -> Tool:
    """A tool of the user's organization, or a built-in one."""
    with or_404():
        return tool_get(actor=request.user, tool_id=tool_id)


def page_or_partial(request: AuthedHttpRequest, template: str, partial: str) -> str:
    """The whole page for a normal request, the named partial for an htmx swap."""
    return f"{template}#{partial}" if request.htmx and not request.htmx.boosted else template


def field_errors(errors: ValidationError | dict[str, list[str]]) -> str:
    """`field: reason; …`, so a refused filter names what to fix."""
    by_field = errors if isinstance(errors, dict) else getattr(errors, "message_dict", {"": errors.messages})
    return "; ".join(f"{name}: {' '.join(msgs)}" if name else " ".join(msgs) for name, msgs in by_field.items())
