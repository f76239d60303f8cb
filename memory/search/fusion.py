# ruff: noqa: S608 - SQL here interpolates only table names from code and validated integers; values are bound.
"""Fusing the text and vector rankings, then lifting neighbours, episodes, dated and timed rows (Fusion)."""

import datetime as dt
import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from django.db import connection
from django.utils.dateparse import parse_datetime

from memory.search.dates import DateWindow, asks_when, in_any, mentions_time, query_date_windows
from memory.search.scope import Scope

logger = logging.getLogger(__name__)
V = TypeVar("V")


@dataclass(frozen=True)
class Fusion:
    """How hybrid mode merges the full-text and vector rankings (tuned on LoCoMo, see docs/benchmarks.md).

    `rsf` (default): relative score fusion, Σ weight × min-max-normalised score over each ranking's candidates;
    unlike RRF it keeps how far ahead a match is, so an exact identifier that only full text finds is not
    outvoted by a near-tie of vectors. `rrf`: weighted reciprocal rank fusion, Σ weight / (k + rank).

    Context: a row then also receives `context_prev` × the fused score of the row just before it in time (and
    `context_prev2` of the one before that, `context_next` of the one after, `context_next2` of the one after
    that), within the same filters; rows next to a candidate are scored the same way. Memories
    are written in conversation order, and the row that answers a question often follows the one that matches
    its words ("What did you paint?" → "A sunset over the lake").

    Episodes: candidates written less than `episode_gap` seconds apart (chained in time) form one episode, such
    as one conversation; each row then gains `episode_weight` × its episode's mass (the sum of its best
    `episode_top` scores, relative to the best episode's) × the best score. A question is usually answered
    inside the episode where most of its evidence sits.

    Questions: a row that itself asks a question ("What kind of movies do you like?") shares the words of a question
    put to search but seldom answers it; the reply after it does. Such a row keeps 1 − `question_discount` of its own
    score, and the row after it receives `context_prev` + `question_reply` of it instead of `context_prev`.

    Dates: when the query names a calendar date (`memory.search.dates`), rows created within it gain
    `date_weight` × the best score. Times: when the query asks when something happened ("When did …?"), rows that
    mention a time ("yesterday", "last week", "in May") gain `time_weight` × the best score.

    Diversity: the first `diversity_top` places are filled one at a time, each row's score discounted by
    (1 − `diversity`) for every row of its episode already placed, so that they do not all come from one episode
    when another comes close; the rest follow in score order."""

    method: Literal["rrf", "rsf"] = "rsf"
    k: float = 60.0
    text_weight: float = 1.0
    vector_weight: float = 0.6
    depth: int = 50  # candidates taken from each ranking (at least 2 × (offset + top_k))
    context_prev: float = 0.3
    context_prev2: float = 0.2
    context_next: float = 0.15
    context_next2: float = 0.05
    episode_weight: float = 0.3
    episode_gap: float = 3600.0
    episode_top: int = 2
    date_weight: float = 0.5
    question_discount: float = 0.3
    question_reply: float = 0.3
    time_weight: float = 0.3
    diversity: float = 0.15
    diversity_top: int = 5

    @property
    def uses_context(self) -> bool:
        return bool(self.context_prev or self.context_prev2 or self.context_next or self.context_next2)

    @property
    def uses_rows(self) -> bool:
        """Whether fusion needs the candidates' neighbours and times (one more query)."""
        return self.uses_context or bool(
            self.episode_weight or self.date_weight or self.time_weight or self.question_discount or self.diversity
        )


DEFAULT_FUSION = Fusion()


def _normalised(ranking: list[tuple[Any, float]]) -> dict[Any, float]:
    if not ranking:
        return {}
    high, low = ranking[0][1], ranking[-1][1]
    spread = high - low
    return {pk: (score - low) / spread if spread > 0 else 1.0 for pk, score in ranking}


def fuse(
    text: list[tuple[Any, float]], vector: list[tuple[Any, float]], fusion: Fusion = DEFAULT_FUSION
) -> list[tuple[Any, float]]:
    """Both rankings best-first; returns the fused ranking best-first."""
    scores: dict[Any, float] = {}
    for weight, ranking in ((fusion.text_weight, text), (fusion.vector_weight, vector)):
        if fusion.method == "rrf":
            for rank, (pk, _score) in enumerate(ranking, start=1):
                scores[pk] = scores.get(pk, 0.0) + weight / (fusion.k + rank)
        else:
            for pk, score in _normalised(ranking).items():
                scores[pk] = scores.get(pk, 0.0) + weight * score
    return sorted(scores.items(), key=lambda item: -item[1])


@dataclass(frozen=True)
class Around:
    """A candidate's time and its neighbours in (created_at, id) order within the search's filters, and the start of
    its text."""

    created_at: dt.datetime | None
    prev: Any = None
    prev2: Any = None
    next: Any = None
    next2: Any = None
    head: str = ""


HEAD_CHARS = 2000  # of each candidate's text, read with its neighbours: enough to tell a question or a time


def neighbours(scope: Scope, ids: list[Any]) -> dict[Any, Around]:
    """Each id's created_at, the two rows before and after it, in (created_at, id) order within `scope`, and its
    first HEAD_CHARS characters: one query."""
    if not ids:
        return {}
    # Row-value comparisons walk the (agent_id, created_at, id) index from the candidate outwards. The agent implies
    # the organization, so that condition is left out: with statistics that predate a big import, PostgreSQL
    # otherwise combined the organization and agent indexes and sorted the agent's rows for every look-up (20,600
    # fresh rows: 74 ms instead of 2).
    conditions, params = scope.where, scope.params
    if conditions[:2] == ["t.organization_id = %s", "t.agent_id = %s"]:
        conditions, params = conditions[1:], params[1:]
    where = " AND ".join(conditions)
    before = "(t.created_at, t.id) < (c.created_at, c.id)"
    after = "(t.created_at, t.id) > (c.created_at, c.id)"

    def pick(condition: str, order: str, offset: int) -> str:
        return (
            f"(SELECT t.id FROM {scope.table} t WHERE {where} AND {condition} "
            f"ORDER BY t.created_at {order}, t.id {order} LIMIT 1 OFFSET {offset})"
        )

    marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"SELECT c.id, c.created_at, {pick(before, 'DESC', 0)}, {pick(before, 'DESC', 1)}, "
        f"{pick(after, 'ASC', 0)}, {pick(after, 'ASC', 1)}, substr(c.text, 1, {HEAD_CHARS}) "
        f"FROM {scope.table} c WHERE c.id IN ({marks})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params * 4, *ids])
        rows = cursor.fetchall()
    return {pk: Around(_aware(created_at), *others) for pk, created_at, *others in rows}


def _aware(value: Any) -> dt.datetime | None:
    """A created_at read by raw SQL: SQLite gives text or a naive datetime, both in UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def asks_question(text: str) -> bool:
    """Whether the text's last sentence mark is a question mark ("Great! What did you paint?")."""
    end = max(text.rfind("."), text.rfind("!"), text.rfind("?"))
    return end >= 0 and text[end] == "?"


def add_context(
    fused: list[tuple[Any, float]], around: dict[Any, Around], fusion: Fusion, depth: int
) -> tuple[list[tuple[Any, float]], dict[Any, dt.datetime | None]]:
    """score(x) = fused(x) + context_prev × fused(prev x) + context_prev2 × fused(prev prev x)
    + context_next × fused(next x) + context_next2 × fused(next next x), over the top `depth` fused rows and the
    rows up to two away from them; a row that asks a question keeps 1 − question_discount of fused(x) and passes
    context_prev + question_reply of it to the row after it. Also returns each scored row's time (a row lifted only
    by a neighbour takes that neighbour's)."""
    own = dict(fused[:depth])
    asking = {pk for pk, row in around.items() if pk in own and asks_question(row.head)}
    scores = {pk: score * (1.0 - fusion.question_discount) if pk in asking else score for pk, score in own.items()}
    times: dict[Any, dt.datetime | None] = {}

    def after(pk: Any) -> float:  # the share of pk's score that the row after it receives
        return fusion.context_prev + (fusion.question_reply if pk in asking else 0.0)

    for pk, row in around.items():
        if pk not in own:
            continue
        times[pk] = row.created_at
        scores[pk] += (
            (after(row.prev) * own[row.prev] if row.prev in own else 0.0)
            + fusion.context_prev2 * own.get(row.prev2, 0.0)
            + fusion.context_next * own.get(row.next, 0.0)
            + fusion.context_next2 * own.get(row.next2, 0.0)
        )
        # Rows just outside the candidates, lifted by a candidate next to them (it is their prev, next, ...).
        for other, weight in (
            (row.next, after(pk)),
            (row.next2, fusion.context_prev2),
            (row.prev, fusion.context_next),
            (row.prev2, fusion.context_next2),
        ):
            if other is not None and other not in own and weight:
                scores[other] = scores.get(other, 0.0) + weight * own[pk]
                times.setdefault(other, row.created_at)
    return sorted(scores.items(), key=lambda item: -item[1]), times


def episodes(times: dict[Any, dt.datetime | None], gap: float) -> dict[Any, int]:
    """Each dated row's episode: rows written less than `gap` seconds apart, chained in time, share one."""
    episode: dict[Any, int] = {}
    current, last = 0, None
    for moment, pk in sorted((t, pk) for pk, t in times.items() if t is not None):
        if last is not None and (moment - last).total_seconds() > gap:
            current += 1
        episode[pk] = current
        last = moment
    return episode


def episode_boost(
    ranked: list[tuple[Any, float]], times: dict[Any, dt.datetime | None], fusion: Fusion
) -> list[tuple[Any, float]]:
    """Adds episode_weight × (episode mass / best episode mass) × best score to every row (see `Fusion`)."""
    if not ranked or not fusion.episode_weight:
        return ranked
    episode = episodes(times, fusion.episode_gap)
    members: dict[Any, list[float]] = {}
    for pk, score in ranked:
        members.setdefault(episode.get(pk, ("alone", pk)), []).append(score)
    mass = {key: sum(sorted(scores, reverse=True)[: fusion.episode_top]) for key, scores in members.items()}
    best_mass = max(mass.values())
    if best_mass <= 0:
        return ranked
    lift = fusion.episode_weight * ranked[0][1] / best_mass
    boosted = [(pk, score + lift * mass[episode.get(pk, ("alone", pk))]) for pk, score in ranked]
    return sorted(boosted, key=lambda item: -item[1])


def diversify(
    ranked: list[tuple[Any, float]], times: dict[Any, dt.datetime | None], fusion: Fusion
) -> list[tuple[Any, float]]:
    """Fills the first `diversity_top` places one at a time with the row of the best score × (1 − diversity) ** (rows
    already placed from its episode); the others follow in score order. Scores are unchanged, so they need not
    decrease within those first places."""
    if not fusion.diversity or len(ranked) < 2:
        return ranked
    episode = episodes(times, fusion.episode_gap)
    keep = 1.0 - fusion.diversity
    pool = list(ranked)  # best first
    placed: list[tuple[Any, float]] = []
    taken: Counter[Any] = Counter()
    for _ in range(min(fusion.diversity_top, len(pool))):
        best, best_value = 0, -math.inf
        for i, (pk, score) in enumerate(pool):
            if score <= best_value:  # a discount only lowers a score: no later row can do better
                break
            value = score * keep ** taken[episode.get(pk, ("alone", pk))]
            if value > best_value:
                best, best_value = i, value
        pk, score = pool.pop(best)
        placed.append((pk, score))
        taken[episode.get(pk, ("alone", pk))] += 1
    return placed + pool


def date_boost(
    ranked: list[tuple[Any, float]], times: dict[Any, dt.datetime | None], windows: list[DateWindow], weight: float
) -> list[tuple[Any, float]]:
    """Adds weight × the best score to the rows created within a date the query names."""
    if not ranked or not windows or not weight:
        return ranked
    lift = weight * ranked[0][1]
    boosted = []
    for pk, score in ranked:
        moment = times.get(pk)
        boosted.append((pk, score + lift if moment is not None and in_any(windows, moment) else score))
    return sorted(boosted, key=lambda item: -item[1])


def time_boost(
    ranked: list[tuple[Any, float]], around: dict[Any, Around], query: str, weight: float
) -> list[tuple[Any, float]]:
    """When the query asks when, adds weight × the best score to the candidates whose text mentions a time."""
    if not ranked or not weight or not asks_when(query):
        return ranked
    lift = weight * ranked[0][1]
    timed = {pk for pk, row in around.items() if mentions_time(row.head)}
    return sorted(((pk, score + lift if pk in timed else score) for pk, score in ranked), key=lambda item: -item[1])


def rerank(
    fused: list[tuple[Any, float]], around: dict[Any, Around], fusion: Fusion, depth: int, query: str
) -> list[tuple[Any, float]]:
    """Context, question, episode, date and time adjustments of a fused ranking, then episode diversity in its first
    places, given the candidates' rows (`neighbours`)."""
    ranked, times = add_context(fused, around, fusion, depth)
    ranked = episode_boost(ranked, times, fusion)
    ranked = date_boost(ranked, times, query_date_windows(query), fusion.date_weight)
    ranked = time_boost(ranked, around, query, fusion.time_weight)
    return diversify(ranked, times, fusion)
