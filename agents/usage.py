"""Usage of an organization per UTC day, agent, model and user: LLM tokens and cost, runs, steps and tool calls
read from the recorded steps (so the report always equals what the steps hold), and embedding work from
memory.EmbeddingUsage. Reads only; every query is scoped to the actor's organization.

A deleted agent's steps go with it, and so does its share of the LLM usage; its embedding counts stay."""

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields

from django.contrib.auth.models import User
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from accounts.selectors import organization_id_for
from agents.models import Agent, Message, MessageRole, Step
from memory.models import EmbeddingUsage

MAX_DAYS = 366
GROUPS = ("day", "model", "agent", "user")


@dataclass(kw_only=True)
class UsageCounts:
    """What usage counts, for a row or a sum of rows."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    runs: int = 0
    steps: int = 0
    tool_calls: int = 0
    embedding_calls: int = 0
    embedded_texts: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


COUNTS = [f.name for f in fields(UsageCounts)]


@dataclass(kw_only=True)
class UsageRow(UsageCounts):
    day: dt.date
    agent_id: uuid.UUID | None
    agent: str
    model: str
    user: str  # who started the runs ("" for embedding work and runs without a user)


@dataclass(kw_only=True)
class UsageTotal(UsageCounts):
    """The sum of some rows: one day, model, agent or user (`key`), or everything."""

    key: str
    rows: list[UsageRow] = field(default_factory=list, repr=False)

    def add(self, row: UsageRow) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(row, name))


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC),
    )


def usage_rows(*, actor: User, start: dt.date, end: dt.date) -> list[UsageRow]:
    """The organization's usage from `start` to `end` (UTC days, both included), one row per day, agent, model
    and user that had any, ordered by day, agent name, model, user. Four queries."""
    org_id = organization_id_for(actor)
    since, until = _bounds(start, end)
    day = TruncDate("created_at", tzinfo=dt.UTC)
    rows: dict[tuple[dt.date, uuid.UUID | None, str, str], UsageRow] = {}

    def row(day: dt.date, agent_id: uuid.UUID | None, model: str, user: str | None) -> UsageRow:
        key = (day, agent_id, model, user or "")
        if key not in rows:
            rows[key] = UsageRow(day=day, agent_id=agent_id, agent="", model=model, user=user or "")
        return rows[key]

    steps = (
        Step.objects.filter(organization_id=org_id, created_at__gte=since, created_at__lt=until)
        .annotate(day=day)
        .values("day", "agent_id", "model", "run__created_by__username")
        .annotate(
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            cost_sum=Sum("cost"),
            step_count=Count("id"),
            run_count=Count("run_id", distinct=True),
        )
        .order_by()
    )
    for item in steps:
        r = row(item["day"], item["agent_id"], item["model"], item["run__created_by__username"])
        r.prompt_tokens += item["prompt"] or 0
        r.completion_tokens += item["completion"] or 0
        r.cost += item["cost_sum"] or 0.0
        r.steps += item["step_count"]
        r.runs += item["run_count"]
    tool_calls = (
        Message.objects.filter(
            organization_id=org_id,
            role=MessageRole.TOOL,
            step__created_at__gte=since,
            step__created_at__lt=until,
        )
        .annotate(day=TruncDate("step__created_at", tzinfo=dt.UTC))
        .values("day", "step__agent_id", "step__model", "step__run__created_by__username")
        .annotate(n=Count("id"))
        .order_by()
    )
    for call in tool_calls:
        r = row(call["day"], call["step__agent_id"], call["step__model"], call["step__run__created_by__username"])
        r.tool_calls += call["n"]
    embeddings = (
        EmbeddingUsage.objects.filter(organization_id=org_id, day__gte=start, day__lte=end)
        .values("day", "agent_id", "model")
        .annotate(calls_sum=Sum("calls"), texts_sum=Sum("texts"))
        .order_by()
    )
    for work in embeddings:
        r = row(work["day"], work["agent_id"], work["model"], "")
        r.embedding_calls += work["calls_sum"] or 0
        r.embedded_texts += work["texts_sum"] or 0
    agent_ids = {r.agent_id for r in rows.values() if r.agent_id is not None}
    names = dict(Agent.objects.filter(organization_id=org_id, id__in=agent_ids).values_list("id", "name"))
    for r in rows.values():
        r.agent = names.get(r.agent_id, "(deleted agent)") if r.agent_id else ""
    return sorted(rows.values(), key=lambda r: (r.day, r.agent, r.model, r.user))


_KEYS: dict[str, Callable[[UsageRow], str]] = {
    "day": lambda r: r.day.isoformat(),
    "model": lambda r: r.model,
    "agent": lambda r: r.agent,
    "user": lambda r: r.user or "-",
}


def usage_totals(rows: Iterable[UsageRow], *, by: str) -> list[UsageTotal]:
    """The rows summed per `by` (day, model, agent or user); by day in date order, else largest token use first."""
    if by not in _KEYS:
        raise ValueError(f"usage is grouped by one of {', '.join(GROUPS)}")
    groups: dict[str, UsageTotal] = {}
    for r in rows:
        key = _KEYS[by](r)
        total = groups.setdefault(key, UsageTotal(key=key))
        total.add(r)
        total.rows.append(r)
    if by == "day":
        return sorted(groups.values(), key=lambda t: t.key)
    return sorted(groups.values(), key=lambda t: (-t.total_tokens, -t.cost, t.key))


def usage_total(rows: Iterable[UsageRow]) -> UsageTotal:
    total = UsageTotal(key="total")
    for r in rows:
        total.add(r)
    return total


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
