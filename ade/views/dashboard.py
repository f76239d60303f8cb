"""The organization dashboard: active runs (polled, since sockets are per agent), error rate, and tokens and
cost per day per agent as inline SVG charts. Reads only through agents' selectors."""

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.http import AuthedHttpRequest
from ade import presenters
from ade.views.common import page_or_partial
from agents.models import ACTIVE_RUN_STATUSES, RunStatus
from agents.selectors import agent_list, run_list, step_list
from agents.tools.sandbox import sandbox_status

DAYS = 14
TOP_AGENTS = 6


@require_GET
def dashboard(request: AuthedHttpRequest) -> HttpResponse:
    actor = request.user
    active = run_list(actor=actor, statuses=[str(s) for s in ACTIVE_RUN_STATUSES]).select_related("agent")[:50]
    if request.htmx and request.GET.get("part") == "active":
        return render(request, "ade/dashboard.html#active-runs", {"active": active, "refresh": True})
    today = timezone.localdate()
    first_day = today - dt.timedelta(days=DAYS - 1)
    since = dt.datetime.combine(first_day, dt.time.min, tzinfo=timezone.get_current_timezone())
    week = timezone.now() - dt.timedelta(days=7)
    finished = (
        run_list(actor=actor)
        .filter(created_at__gte=week)
        .exclude(status__in=ACTIVE_RUN_STATUSES)
        .order_by()
        .aggregate(total=Count("id"), failed=Count("id", filter=Q(status=RunStatus.FAILED)))
    )
    steps_week = (
        step_list(actor=actor)
        .filter(created_at__gte=week)
        .order_by()
        .aggregate(
            total=Count("id"),
            failed=Count("id", filter=~Q(error="")),
            tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
            cost=Sum("cost"),
        )
    )
    per_day = (
        step_list(actor=actor)
        .filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "agent_id")
        .order_by()
        .annotate(tokens=Sum(F("prompt_tokens") + F("completion_tokens")), cost=Sum("cost"))
    )
    labels = [(first_day + dt.timedelta(days=i)).isoformat() for i in range(DAYS)]
    tokens_chart, cost_chart, legend = _charts(actor, labels, [dict(row) for row in per_day])
    context = {
        "active": active,
        "runs_total": finished["total"],
        "runs_failed": finished["failed"],
        "run_error_rate": 100.0 * finished["failed"] / finished["total"] if finished["total"] else 0.0,
        "steps_total": steps_week["total"],
        "step_error_rate": 100.0 * steps_week["failed"] / steps_week["total"] if steps_week["total"] else 0.0,
        "tokens_week": steps_week["tokens"] or 0,
        "cost_week": steps_week["cost"] or 0.0,
        "agent_count": agent_list(actor=actor).count(),
        "tokens_chart": tokens_chart,
        "cost_chart": cost_chart,
        "legend": legend,
        "days": DAYS,
        "tool_sandbox": sandbox_status(),
    }
    return render(request, page_or_partial(request, "ade/dashboard.html", "active-runs"), context)


def _charts(actor: Any, labels: list[str], rows: list[dict[str, Any]]) -> tuple[Any, Any, list[presenters.Series]]:
    by_agent_tokens: dict[Any, dict[str, float]] = defaultdict(dict)
    by_agent_cost: dict[Any, dict[str, float]] = defaultdict(dict)
    totals: dict[Any, float] = defaultdict(float)
    for row in rows:
        day = row["day"].isoformat() if hasattr(row["day"], "isoformat") else str(row["day"])
        by_agent_tokens[row["agent_id"]][day] = float(row["tokens"] or 0)
        by_agent_cost[row["agent_id"]][day] = float(row["cost"] or 0)
        totals[row["agent_id"]] += float(row["tokens"] or 0)
    ranked = sorted(totals, key=lambda agent_id: -totals[agent_id])
    top, rest = ranked[:TOP_AGENTS], ranked[TOP_AGENTS:]
    names = dict(agent_list(actor=actor).filter(pk__in=top).values_list("pk", "name"))
    token_series, cost_series = [], []
    for i, agent_id in enumerate(top):
        color = presenters.PALETTE[i % len(presenters.PALETTE)]
        name = names.get(agent_id, "?")
        token_series.append(presenters.Series(name, [by_agent_tokens[agent_id].get(d, 0.0) for d in labels], color))
        cost_series.append(presenters.Series(name, [by_agent_cost[agent_id].get(d, 0.0) for d in labels], color))
    if rest:
        token_series.append(
            presenters.Series("other", [sum(by_agent_tokens[a].get(d, 0.0) for a in rest) for d in labels], "#9ca3af")
        )
        cost_series.append(
            presenters.Series("other", [sum(by_agent_cost[a].get(d, 0.0) for a in rest) for d in labels], "#9ca3af")
        )
    tokens_chart = presenters.stacked_bars(labels, token_series, title="Tokens per day per agent", unit=" tokens")
    cost_chart = presenters.stacked_bars(labels, cost_series, title="Cost per day per agent", unit=" USD")
    return tokens_chart, cost_chart, token_series
