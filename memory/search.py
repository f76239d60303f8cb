"""Archival search. This first version is a plain substring match; the contract (arguments, filters applied
before the limit, results best-first) is what callers rely on."""

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from memory.models import Passage
from memory.types import AgentLike

SearchMode = Literal["hybrid", "vector", "text"]
TagMatchMode = Literal["any", "all"]
MAX_TOP_K = 200


@dataclass(frozen=True)
class PassageHit:
    passage: Passage
    score: float


def passage_search(
    *,
    agent: AgentLike,
    query: str,
    mode: SearchMode = "hybrid",
    tags: list[str] | None = None,
    tag_match_mode: TagMatchMode = "any",
    top_k: int = 10,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    offset: int = 0,
) -> list[PassageHit]:
    if not isinstance(query, str) or not query.strip():
        raise ValidationError({"query": "must be a non-empty string"})
    if mode not in ("hybrid", "vector", "text"):
        raise ValidationError({"mode": "must be one of hybrid, vector, text"})
    if tag_match_mode not in ("any", "all"):
        raise ValidationError({"tag_match_mode": "must be any or all"})
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValidationError({"top_k": f"must be between 1 and {MAX_TOP_K}"})
    if offset < 0:
        raise ValidationError({"offset": "must be 0 or more"})
    qs = _filtered(agent=agent, tags=tags, tag_match_mode=tag_match_mode, start=start, end=end)
    terms = [t for t in query.lower().split() if t]
    matches = Q()
    for term in terms:
        matches |= Q(text__icontains=term)
    hits = []
    for passage in qs.filter(matches).order_by("-created_at"):
        text = passage.text.lower()
        score = sum(1.0 for term in terms if term in text) / len(terms)
        hits.append(PassageHit(passage=passage, score=score))
    hits.sort(key=lambda hit: -hit.score)
    return hits[offset : offset + top_k]


def _filtered(
    *,
    agent: AgentLike,
    tags: list[str] | None,
    tag_match_mode: TagMatchMode,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> QuerySet[Passage]:
    qs = Passage.objects.filter(organization_id=agent.organization_id, agent_id=agent.id)
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lte=end)
    if tags:
        ids = [p.pk for p in qs.only("id", "tags") if _tags_match(p.tags, tags, tag_match_mode)]
        qs = qs.filter(pk__in=ids)
    return qs


def _tags_match(have: list[str], wanted: list[str], mode: TagMatchMode) -> bool:
    return all(t in have for t in wanted) if mode == "all" else any(t in have for t in wanted)
