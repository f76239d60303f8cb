import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.selectors import organization_id_for
from agents.models import (
    Agent,
    AgentTag,
    Conversation,
    Identity,
    IdentityAgent,
    IdentityBlock,
    MCPServer,
    Message,
    Run,
    Step,
    Tool,
    in_history,
)

MAX_PAGE = 1_000
# `conversation_id` of message_list: every conversation of the agent (its own history and all the others).
ALL_CONVERSATIONS: Literal["all"] = "all"


def agent_list(
    *,
    actor: User,
    name: str | None = None,
    tags: list[str] | None = None,
    match_all_tags: bool = False,
    query_text: str | None = None,
    identity_id: uuid.UUID | None = None,
    identifier_keys: list[str] | None = None,
) -> QuerySet[Agent]:
    org_id = organization_id_for(actor)
    qs = Agent.objects.filter(organization_id=org_id)
    if identity_id is not None:
        qs = qs.filter(pk__in=IdentityAgent.objects.filter(identity_id=identity_id).values("agent_id"))
    if identifier_keys:
        links = IdentityAgent.objects.filter(
            identity__organization_id=org_id, identity__identifier_key__in=identifier_keys
        )
        qs = qs.filter(pk__in=links.values("agent_id"))
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


def identity_list(
    *,
    actor: User,
    name: str | None = None,
    identifier_key: str | None = None,
    identity_type: str | None = None,
) -> QuerySet[Identity]:
    """The organization's identities; `name` matches a part of the name (any case), `identifier_key` all of it."""
    qs = Identity.objects.filter(organization_id=organization_id_for(actor))
    if name:
        qs = qs.filter(name__icontains=name)
    if identifier_key:
        qs = qs.filter(identifier_key=identifier_key)
    if identity_type:
        qs = qs.filter(identity_type=identity_type)
    return qs


def identity_get(*, actor: User, identity_id: uuid.UUID) -> Identity:
    """Raises Identity.DoesNotExist for ids of other organizations (→ 404)."""
    return Identity.objects.filter(organization_id=organization_id_for(actor)).get(pk=identity_id)


def agent_tags(*, agent: Agent) -> list[str]:
    return sorted(AgentTag.objects.filter(agent=agent).values_list("tag", flat=True))


def tool_list(*, actor: User, name: str | None = None) -> QuerySet[Tool]:
    """The organization's tools plus the built-ins (seeded after migrate: agents.apps, builtin_tools_seed)."""
    qs = Tool.objects.filter(Q(organization_id=organization_id_for(actor)) | Q(organization=None))
    if name:
        qs = qs.filter(name=name)
    return qs.order_by("name", "id")


def tool_get(*, actor: User, tool_id: uuid.UUID) -> Tool:
    return Tool.objects.filter(Q(organization_id=organization_id_for(actor)) | Q(organization=None)).get(pk=tool_id)


def mcp_server_list(*, actor: User, agent: Agent | None = None) -> QuerySet[MCPServer]:
    """The organization's MCP servers; with `agent`, only those with a tool attached to it."""
    servers = MCPServer.objects.filter(organization_id=organization_id_for(actor))
    if agent is not None:
        servers = servers.filter(pk__in=Tool.objects.filter(agenttool__agent=agent).values("mcp_server_id"))
    return servers.order_by("name", "id")


def mcp_server_get(*, actor: User, server_id: uuid.UUID) -> MCPServer:
    return MCPServer.objects.filter(organization_id=organization_id_for(actor)).get(pk=server_id)


def mcp_tool_get(*, server: MCPServer, tool_id: uuid.UUID | None = None, name: str | None = None) -> Tool:
    """One of the server's tools, by id or by its name (the caller reached `server` through mcp_server_get)."""
    qs = Tool.objects.filter(mcp_server=server, organization_id=server.organization_id)
    return qs.get(pk=tool_id) if tool_id is not None else qs.get(name=name)


def run_list(
    *,
    actor: User,
    agent_id: uuid.UUID | None = None,
    statuses: list[str] | None = None,
    conversation_id: uuid.UUID | None | Literal["all"] = ALL_CONVERSATIONS,
) -> QuerySet[Run]:
    """The organization's runs (of one agent; of one of its conversations, None: its own history)."""
    qs = Run.objects.filter(organization_id=organization_id_for(actor))
    if agent_id is not None:
        qs = qs.filter(agent_id=agent_id)
    if conversation_id is None:
        qs = qs.filter(conversation__isnull=True)
    elif conversation_id != ALL_CONVERSATIONS:
        qs = qs.filter(conversation_id=conversation_id)
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
    conversation_id: uuid.UUID | None | Literal["all"] = ALL_CONVERSATIONS,
) -> list[Message]:
    """A page of the agent's history by seq. `after`/`before` are message ids (cursors) in the listing order, as
    the Letta SDKs page: with order=desc, `after=<last id of a page>` gives the next (older) page. Raises
    Agent.DoesNotExist for other organizations.
    Messages waiting in a queued run (no seq yet) are left out unless include_pending. `conversation_id`: one
    conversation's messages (None: the agent's own history), or all of them."""
    agent = agent_get(actor=actor, agent_id=agent_id)
    limit = max(1, min(limit, MAX_PAGE))
    base = Message.objects.filter(agent=agent)
    if conversation_id is None:
        base = base.filter(conversation__isnull=True)
    elif conversation_id != ALL_CONVERSATIONS:
        base = base.filter(conversation_id=conversation_id)
    qs = base.filter(seq__isnull=False)
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
        pending = base.filter(seq__isnull=True).order_by("created_at", "id")
        page += list(pending[: max(0, limit - len(page))])
    return page


def message_get(*, actor: User, message_id: uuid.UUID, agent_id: uuid.UUID | None = None) -> Message:
    """A stored message of the actor's organization (of `agent_id` when given). Raises Message.DoesNotExist."""
    qs = Message.objects.filter(organization_id=organization_id_for(actor)).defer("embedding")
    if agent_id is not None:
        qs = qs.filter(agent_id=agent_id)
    return qs.get(pk=message_id)


def message_org_list(*, actor: User, step_id: uuid.UUID | None = None) -> QuerySet[Message]:
    """Every message in an agent's history across the organization (or of one step), for cursor paging by
    (created_at, seq, id). Messages waiting in a queued run (no seq yet) are left out, as in message_list."""
    qs = Message.objects.filter(organization_id=organization_id_for(actor), seq__isnull=False).defer("embedding")
    if step_id is not None:
        qs = qs.filter(step_id=step_id)
    return qs


def run_tools_used(*, run: Run) -> list[Tool]:
    """The tools the run called (those that still exist), by the names in its tool results."""
    names = set(Message.objects.filter(run=run, role="tool").values_list("name", flat=True))
    if not names:
        return []
    tools: dict[str, Tool] = {}
    for tool in Tool.objects.filter(Q(organization_id=run.organization_id) | Q(organization=None), name__in=names):
        if tool.name not in tools or tool.organization_id is not None:  # the organization's own wins, as in a run
            tools[tool.name] = tool
    return [tools[n] for n in sorted(tools)]


@dataclass(frozen=True)
class ToolHit:
    tool: Tool
    score: float
    text: str  # what was matched: name, description and tags


_WORD = re.compile(r"[^\W_]+")


def tool_search(
    *,
    actor: User,
    query: str | None = None,
    tags: list[str] | None = None,
    tool_types: list[str] | None = None,
    limit: int = 50,
) -> list[ToolHit]:
    """The organization's tools and the built-ins, best first by the share of the query's words found in the
    tool's name (counted twice), description and tags. Tools are few and not embedded, so this is a word match in
    every search mode. Without a query: every tool passing the filters, by name."""
    qs = tool_list(actor=actor)
    if tool_types:
        qs = qs.filter(tool_type__in=tool_types)
    wanted_tags = set(tags or [])
    words = {w.lower() for w in _WORD.findall(query or "")}
    hits = []
    for tool in qs:
        if wanted_tags and not wanted_tags & set(tool.tags or []):
            continue
        text = " ".join([tool.name, tool.description, *(tool.tags or [])])
        score = 0.0
        if words:
            name_words = {w.lower() for w in _WORD.findall(tool.name)}
            other_words = {w.lower() for w in _WORD.findall(text)}
            score = sum(2.0 if w in name_words else 1.0 if w in other_words else 0.0 for w in words) / (2 * len(words))
            if score == 0:
                continue
        hits.append(ToolHit(tool=tool, score=round(score, 6), text=text))
    hits.sort(key=lambda h: (-h.score, h.tool.name, str(h.tool.pk)))
    return hits[:limit]


def identity_block_ids(
    *, actor: User, identity_id: uuid.UUID | None = None, identifier_keys: list[str] | None = None
) -> "QuerySet[IdentityBlock, Any] | None":
    """The ids (a subquery) of the blocks linked to `identity_id` and, with `identifier_keys`, to any identity with
    one of those keys; None when neither is given. For memory.selectors.block_list(block_ids=…)."""
    if identity_id is None and not identifier_keys:
        return None
    organization_id = organization_id_for(actor)
    links = IdentityBlock.objects.filter(identity__organization_id=organization_id)
    if identity_id is not None:
        links = links.filter(identity_id=identity_id)
    if identifier_keys:
        keyed = IdentityBlock.objects.filter(
            identity__organization_id=organization_id, identity__identifier_key__in=identifier_keys
        )
        links = links.filter(block_id__in=keyed.values("block_id"))
    return links.values("block_id")


def run_tool_results(*, run: Run) -> QuerySet[Message]:
    """The tool results the run's steps wrote, in order (the run was reached through a selector)."""
    return Message.objects.filter(run=run, role="tool", step__isnull=False).order_by("seq", "created_at")


def conversation_list(
    *,
    actor: User,
    agent_id: uuid.UUID | None = None,
    archive_status: Literal["unarchived", "archived", "all"] = "unarchived",
    summary_search: str | None = None,
    include_hidden: bool = False,
) -> QuerySet[Conversation]:
    """The organization's conversations (of one agent). Raises Agent.DoesNotExist for another organization's
    agent."""
    org_id = organization_id_for(actor)
    qs = Conversation.objects.filter(organization_id=org_id)
    if agent_id is not None:
        qs = qs.filter(agent=agent_get(actor=actor, agent_id=agent_id))
    if archive_status != "all":
        qs = qs.filter(archived_at__isnull=archive_status == "unarchived")
    if not include_hidden:
        qs = qs.filter(hidden=False)
    if summary_search:
        qs = qs.filter(summary__icontains=summary_search)
    return qs


def conversation_get(*, actor: User, conversation_id: uuid.UUID) -> Conversation:
    """Raises Conversation.DoesNotExist for ids of other organizations."""
    return Conversation.objects.filter(organization_id=organization_id_for(actor)).get(pk=conversation_id)


@dataclass(frozen=True)
class ConversationHit:
    conversation: Conversation
    text: str  # the field that matched (description or summary)
    score: float  # share of the query's words it holds


def conversation_search(
    *, actor: User, query: str, agent_id: uuid.UUID | None = None, target: str = "description", limit: int = 20
) -> list[ConversationHit]:
    """Conversations whose description (or summary) holds the query's words, best first: the share of the
    words each one holds (every word must match somewhere in the field to count; ties newest first)."""
    words = [w for w in re.findall(r"\w+", query.lower()) if w]
    if not words:
        return []
    field = "summary" if target == "summary" else "description"
    qs = conversation_list(actor=actor, agent_id=agent_id, archive_status="all")
    match = Q()
    for word in words:
        match |= Q(**{f"{field}__icontains": word})
    hits = []
    for conversation in qs.filter(match).order_by("-created_at")[:MAX_PAGE]:
        text = getattr(conversation, field)
        held = sum(1 for word in words if word in text.lower())
        hits.append(ConversationHit(conversation=conversation, text=text, score=held / len(words)))
    hits.sort(key=lambda h: -h.score)
    return hits[:limit]


def pending_calls(*, agent: Agent, conversation_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """The tool calls of the agent's own history (or of one of its conversations) waiting for approval ([{id, name,
    arguments, client}]); none once they are overdue (the next send or the sweep denies them). The caller has
    authorized `agent` (agent_get)."""
    run = (
        Run.objects.filter(in_history(conversation_id), agent=agent, approval_due__gt=timezone.now())
        .order_by("-position")
        .only("pending_calls")
        .first()
    )
    return list(run.pending_calls) if run is not None else []
