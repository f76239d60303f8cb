import uuid
from typing import Literal

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet

from accounts.selectors import organization_id_for
from agents.models import Agent, AgentSecret, AgentTag, Message, Run, Step, Tool
from config.crypto import decrypt

MAX_PAGE = 1_000


def agent_list(
    *,
    actor: User,
    name: str | None = None,
    tags: list[str] | None = None,
    match_all_tags: bool = False,
    query_text: str | None = None,
) -> QuerySet[Agent]:
    org_id = organization_id_for(actor)
    qs = Agent.objects.filter(organization_id=org_id)
    if name:
        qs = qs.filter(name=name)
    if query_text:
        qs = qs.filter(Q(name__icontains=query_text) | Q(description__icontains=query_text))
    if tags:
        wanted = sorted(set(tags))
        tagged = AgentTag.objects.filter(organization_id=org_id, tag__in=wanted).values("agent_id")
        if match_all_tags:
            tagged = tagged.annotate(n=Count("tag", distinct=True)).filter(n=len(wanted))
        qs = qs.filter(pk__in=tagged.values("agent_id"))
    return qs


def agent_get(*, actor: User, agent_id: uuid.UUID) -> Agent:
    """Raises Agent.DoesNotExist for ids of other organizations: outsiders get 404, never 403."""
    return Agent.objects.filter(organization_id=organization_id_for(actor)).get(pk=agent_id)


def agent_tags(*, agent: Agent) -> list[str]:
    return sorted(AgentTag.objects.filter(agent=agent).values_list("tag", flat=True))


def agent_secrets(*, agent: Agent) -> dict[str, str]:
    """The agent's secrets, decrypted: the environment its custom tools run with."""
    rows = AgentSecret.objects.filter(agent=agent).order_by("key").values_list("key", "value_encrypted")
    return {key: decrypt(token) for key, token in rows}


def tool_list(*, actor: User, name: str | None = None) -> QuerySet[Tool]:
    """The organization's tools plus the built-ins."""
    from agents.services.tools import builtin_tools_ensure

    builtin_tools_ensure()
    qs = Tool.objects.filter(Q(organization_id=organization_id_for(actor)) | Q(organization=None))
    if name:
        qs = qs.filter(name=name)
    return qs.order_by("name", "id")


def tool_get(*, actor: User, tool_id: uuid.UUID) -> Tool:
    return Tool.objects.filter(Q(organization_id=organization_id_for(actor)) | Q(organization=None)).get(pk=tool_id)


def run_list(*, actor: User, agent_id: uuid.UUID | None = None, statuses: list[str] | None = None) -> QuerySet[Run]:
    qs = Run.objects.filter(organization_id=organization_id_for(actor))
    if agent_id is not None:
        qs = qs.filter(agent_id=agent_id)
    if statuses:
        qs = qs.filter(status__in=statuses)
    return qs.order_by("created_at", "id")


def run_get(*, actor: User, run_id: uuid.UUID) -> Run:
    return Run.objects.filter(organization_id=organization_id_for(actor)).get(pk=run_id)


def step_list(*, actor: User, run_id: uuid.UUID | None = None, agent_id: uuid.UUID | None = None) -> QuerySet[Step]:
    qs = Step.objects.filter(organization_id=organization_id_for(actor))
    if run_id is not None:
        qs = qs.filter(run_id=run_id)
    if agent_id is not None:
        qs = qs.filter(agent_id=agent_id)
    return qs.order_by("created_at", "index")


def step_get(*, actor: User, step_id: uuid.UUID) -> Step:
    return Step.objects.filter(organization_id=organization_id_for(actor)).get(pk=step_id)


def message_list(
    *,
    actor: User,
    agent_id: uuid.UUID,
    before: uuid.UUID | None = None,
    after: uuid.UUID | None = None,
    limit: int = 100,
    order: Literal["asc", "desc"] = "desc",
    run_id: uuid.UUID | None = None,
    include_pending: bool = False,
) -> list[Message]:
    """A page of the agent's history by seq. `after`/`before` are message ids (cursors) in the listing order, as
    the Letta SDKs page: with order=desc, `after=<last id of a page>` gives the next (older) page. Raises
    Agent.DoesNotExist for other organizations.
    Messages waiting in a queued run (no seq yet) are left out unless include_pending."""
    agent = agent_get(actor=actor, agent_id=agent_id)
    limit = max(1, min(limit, MAX_PAGE))
    qs = Message.objects.filter(agent=agent, seq__isnull=False)
    if run_id is not None:
        qs = qs.filter(run_id=run_id)
    later, earlier = ("gt", "lt") if order == "asc" else ("lt", "gt")
    for cursor, op in ((after, later), (before, earlier)):
        if cursor is None:
            continue
        seq = Message.objects.filter(agent=agent, pk=cursor).values_list("seq", flat=True).first()
        if seq is None:
            return []
        qs = qs.filter(**{f"seq__{op}": seq})
    qs = qs.order_by("seq" if order == "asc" else "-seq")
    page = list(qs[:limit])
    if include_pending:
        pending = Message.objects.filter(agent=agent, seq__isnull=True).order_by("created_at", "id")
        page += list(pending[: max(0, limit - len(page))])
    return page
