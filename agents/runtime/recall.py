"""Recall memory search over every message of an agent, in context or evicted, with the hybrid search of
memory.search (full text at once, meaning once embedded). Filters apply in the database before the limit.

Whoever writes messages calls `messages_embed_after_commit(messages)` so they become findable by meaning, or,
for a run's messages, `run_messages_embed_after_commit(run_id)` once when the run ends (one dispatch instead of
one per step); text search needs nothing."""

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Max

from accounts.selectors import organization_id_for
from agents.models import Agent, Message, MessageRole
from memory.search import (
    DEFAULT_FUSION,
    Fusion,
    SearchMode,
    ranked_ids,
    scope_for,
    validate_dates,
    validate_page,
    validate_query,
)
from memory.services.embedding_dispatch import embed_after_commit, embed_group_after_commit
from memory.services.embeddings import MESSAGES

MAX_LIMIT = 100
# An organization-wide search runs the agent search once per agent that has messages; past this many agents the
# caller must name one (agent_id) rather than get a silently partial answer.
MAX_AGENTS_SEARCHED = 50
ROLES = tuple(MessageRole.values)


@dataclass(frozen=True)
class MessageHit:
    message: Message
    score: float


def messages_embed_after_commit(messages: Iterable[Message]) -> None:
    """Embed these messages (those with text) with the agent's embedding model once the transaction commits,
    off the agent's thread; until then they are found by their words."""
    if settings.ENGRAM_EMBED_MESSAGES:
        embed_after_commit(label=MESSAGES, ids=[str(m.pk) for m in messages if m.text.strip()], background=True)


def run_messages_embed_after_commit(run_id: uuid.UUID) -> None:
    """Embed every message of the run (its input and what it produced) once the transaction commits."""
    if settings.ENGRAM_EMBED_MESSAGES:
        embed_group_after_commit(label=MESSAGES, field="run_id", value=str(run_id))


def message_search(
    *,
    agent: Agent,
    query: str,
    roles: list[str] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 10,
    offset: int = 0,
    mode: SearchMode = "hybrid",
    fusion: Fusion = DEFAULT_FUSION,
) -> list[MessageHit]:
    """Best-first messages of this agent only. Raises ValidationError on bad input."""
    validate_query(query)
    validate_page(mode=mode, limit=limit, offset=offset, limit_name="limit", max_limit=MAX_LIMIT)
    validate_dates(start, end)
    if roles is not None and (not isinstance(roles, list) or not all(r in ROLES for r in roles)):
        raise ValidationError({"roles": f"must be a list of roles among {', '.join(ROLES)}"})
    scope = scope_for(
        Message._meta.db_table, organization_id=agent.organization_id, agent_id=agent.id, start=start, end=end
    )
    if roles:
        scope.add(f"t.role IN ({', '.join(['%s'] * len(roles))})", *sorted(set(roles)))
    ranked = ranked_ids(
        scope=scope, query=query, mode=mode, embedding_model=agent.embedding, limit=offset + limit, fusion=fusion
    )[offset:]
    rows = Message.objects.defer("embedding").in_bulk([pk for pk, _ in ranked])
    return [MessageHit(message=rows[pk], score=score) for pk, score in ranked if pk in rows]


def message_search_organization(
    *,
    actor: User,
    query: str,
    agent_id: uuid.UUID | None = None,
    roles: list[str] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 10,
    mode: SearchMode = "hybrid",
) -> list[MessageHit]:
    """Best-first messages of the actor's organization: message_search over one agent (`agent_id`; another
    organization's is Agent.DoesNotExist) or over each agent that has messages, merged by score. Hybrid scores
    are relative to each agent's best match, so the merge interleaves the agents' best matches. Raises
    ValidationError on bad input, or when more than MAX_AGENTS_SEARCHED agents would be searched."""
    org_id = organization_id_for(actor)
    if agent_id is not None:
        agents = [Agent.objects.get(organization_id=org_id, pk=agent_id)]
    else:
        validate_query(query)
        ids = list(
            Message.objects.filter(organization_id=org_id, seq__isnull=False)
            .values("agent_id")
            .annotate(last=Max("created_at"))
            .order_by("-last")
            .values_list("agent_id", flat=True)[: MAX_AGENTS_SEARCHED + 1]
        )
        if len(ids) > MAX_AGENTS_SEARCHED:
            raise ValidationError(
                {"agent_id": f"required when more than {MAX_AGENTS_SEARCHED} agents of the organization have messages"}
            )
        agents = list(Agent.objects.filter(organization_id=org_id, pk__in=ids))
    rankings = [
        message_search(agent=agent, query=query, roles=roles, start=start, end=end, limit=limit, mode=mode)
        for agent in agents
    ]
    return merge_rankings(rankings, limit)


def merge_rankings(rankings: list[list[MessageHit]], limit: int) -> list[MessageHit]:
    """The best `limit` hits of several agents' rankings, each agent's kept in its own order: hybrid search places
    its first rows out of score order (episode diversity), so sorting by score would undo that. At each place, the
    head of the ranking with the best score goes first (ties: the newer message, then the id)."""
    heads = [0] * len(rankings)
    merged: list[MessageHit] = []
    while len(merged) < limit:
        waiting = [(i, ranking[heads[i]]) for i, ranking in enumerate(rankings) if heads[i] < len(ranking)]
        if not waiting:
            break
        i, hit = min(waiting, key=lambda w: (-w[1].score, -w[1].message.created_at.timestamp(), str(w[1].message.pk)))
        merged.append(hit)
        heads[i] += 1
    return merged
