"""The Usage page: an organization's LLM tokens, cost, runs, steps, tool calls and embedding work per UTC day,
plotted by model, agent or user (server-rendered SVG), with totals and a CSV export of the rows."""

import csv
import datetime as dt

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.http import AuthedHttpRequest
from ade import presenters
from agents.usage import MAX_DAYS, UsageRow, days_between, usage_rows, usage_total, usage_totals
from lib.ids import public_id

DAY_CHOICES = (7, 30, 90)
GROUP_CHOICES = ("model", "agent", "user")
TOP = 6
CSV_COLUMNS = [
    "day",
    "agent_id",
    "agent",
    "model",
    "user",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "runs",
    "steps",
    "tool_calls",
    "embedding_calls",
    "embedded_texts",
]


class _BadParameter(Exception):
    pass


def _period(request: AuthedHttpRequest) -> tuple[dt.date, dt.date, int]:
    raw = request.GET.get("days", "30")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        raise _BadParameter(f"days: must be a whole number of days from 1 to {MAX_DAYS}")
    days = int(raw)
    end = timezone.now().astimezone(dt.UTC).date()
    return end - dt.timedelta(days=days - 1), end, days


def _group(request: AuthedHttpRequest) -> str:
    by = request.GET.get("by", "model")
    if by not in GROUP_CHOICES:
        raise _BadParameter(f"by: must be one of {', '.join(GROUP_CHOICES)}")
    return by


def _series(rows: list[UsageRow], labels: list[str], by: str, metric: str) -> list[presenters.Series]:
    groups = usage_totals(rows, by=by)
    series = []
    for i, total in enumerate(groups[:TOP]):
        per_day = {t.key: float(getattr(t, metric)) for t in usage_totals(total.rows, by="day")}
        color = presenters.PALETTE[i % len(presenters.PALETTE)]
        series.append(presenters.Series(total.key, [per_day.get(d, 0.0) for d in labels], color))
    rest = [r for total in groups[TOP:] for r in total.rows]
    if rest:
        per_day = {t.key: float(getattr(t, metric)) for t in usage_totals(rest, by="day")}
        series.append(presenters.Series("other", [per_day.get(d, 0.0) for d in labels], "#9ca3af"))
    return series


@require_GET
def usage(request: AuthedHttpRequest) -> HttpResponse:
    try:
        start, end, days = _period(request)
        by = _group(request)
    except _BadParameter as exc:
        return HttpResponseBadRequest(str(exc))
    rows = usage_rows(actor=request.user, start=start, end=end)
    labels = [d.isoformat() for d in days_between(start, end)]
    tokens = _series(rows, labels, by, "total_tokens")
    context = {
        "days": days,
        "by": by,
        "day_choices": DAY_CHOICES,
        "group_choices": GROUP_CHOICES,
        "start": start,
        "end": end,
        "total": usage_total(rows),
        "groups": usage_totals(rows, by=by),
        "tokens_chart": presenters.stacked_bars(labels, tokens, title=f"Tokens per day by {by}", unit=" tokens"),
        "cost_chart": presenters.stacked_bars(
            labels, _series(rows, labels, by, "cost"), title=f"Cost per day by {by}", unit=" USD"
        ),
        "legend": tokens,
        "quota_tokens": settings.ENGRAM_QUOTA_TOKENS_PER_DAY,
        "quota_agents": settings.ENGRAM_QUOTA_AGENTS,
        "tokens_today": next((t.total_tokens for t in usage_totals(rows, by="day") if t.key == labels[-1]), 0),
    }
    return render(request, "ade/usage.html", context)


@require_GET
def usage_csv(request: AuthedHttpRequest) -> HttpResponse:
    try:
        start, end, _ = _period(request)
    except _BadParameter as exc:
        return HttpResponseBadRequest(str(exc))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="engram-usage-{start}-{end}.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for r in usage_rows(actor=request.user, start=start, end=end):
        writer.writerow(
            [
                r.day.isoformat(),
                public_id("agent", r.agent_id) if r.agent_id else "",
                _cell(r.agent),
                _cell(r.model),
                _cell(r.user),
                r.prompt_tokens,
                r.completion_tokens,
                r.total_tokens,
                f"{r.cost:.8f}",
                r.runs,
                r.steps,
                r.tool_calls,
                r.embedding_calls,
                r.embedded_texts,
            ]
        )
    return response


def _cell(text: str) -> str:
    """A spreadsheet must not run a name as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
