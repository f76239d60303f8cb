"""Recall memory search over every message of an agent, in context or evicted. First version: substring
match; the contract (filters before the limit, best-first, pagination) is what the tools and API rely on."""

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Q

from agents.models import Agent, Message

MAX_LIMIT = 100


@dataclass(frozen=True)
class MessageHit:
    message: Message
    score: float


def message_search(
    *,
    agent: Agent,
    query: str,
    roles: list[str] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 10,
    offset: int = 0,
) -> list[MessageHit]:
    if not isinstance(query, str) or not query.strip():
        raise ValidationError({"query": "must be a non-empty string"})
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"limit": f"must be between 1 and {MAX_LIMIT}"})
    qs = Message.objects.filter(organization_id=agent.organization_id, agent_id=agent.id)
    if roles:
        qs = qs.filter(role__in=roles)
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lte=end)
    terms = [t for t in query.lower().split() if t]
    matches = Q()
    for term in terms:
        matches |= Q(text__icontains=term)
    hits = []
    for message in qs.filter(matches).order_by("-seq"):
        text = message.text.lower()
        hits.append(MessageHit(message=message, score=sum(1.0 for t in terms if t in text) / len(terms)))
    hits.sort(key=lambda hit: -hit.score)
    return hits[offset : offset + limit]
