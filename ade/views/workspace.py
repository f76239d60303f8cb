"""The agent workspace: core memory, the chat and one side panel (context window, archival, recall, …).

On a wide screen the page has three columns: the memory column (core blocks), the chat, and the side panel with
tabs. On a narrow one it is one column with tabs, and "Memory" is one of them (see docs/ade.md).

Every panel URL serves the whole page on a normal request and just the panel on an htmx request, so a
panel is linkable, survives a reload, and is what the page re-fetches after a websocket event. The memory URL is
the agent's page: its side panel shows the context window (beside the memory column on a wide screen; on a narrow
one the memory column takes its place), and an htmx request aimed at the memory column (`HX-Target: memory`)
gets that column."""

import datetime as dt
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from accounts.http import AuthedHttpRequest
from ade import presenters
from ade.context_window import context_breakdown
from ade.forms import (
    PAGE_MAX,
    AgentSettingsForm,
    ArchivalSearchForm,
    ChatForm,
    PassageInsertForm,
    RecallSearchForm,
)
from ade.views.archives import archive_panel_context
from ade.views.chat import chat_context
from ade.views.common import TEMPLATE, agent_or_404, field_errors, id_or_404, or_404, tool_or_404
from agents.models import Agent, AgentBlock, RunStatus, Step
from agents.runtime.recall import message_search
from agents.runtime.tool_rules import approval_tools
from agents.selectors import run_list, tool_list
from agents.services.agents import agent_delete, agent_tool_attach, agent_tool_detach, agent_update
from agents.services.messages import messages_reset
from agents.tools.secrets import agent_secrets
from memory.embeddings import EmbeddingError, embedding_model_check, resolve_model
from memory.models import Block
from memory.search import passages_search
from memory.selectors import block_revision_list
from memory.selectors_archives import archive_ids_of_agent
from memory.selectors_passages import embedding_job_latest, passage_filter, passage_queryset

PANELS = ["memory", "archival", "recall", "context", "runs", "tools", "files", "settings"]
MEMORY_COLUMN = "memory"  # the memory column's element id, which htmx sends as HX-Target
ARCHIVAL_PAGE = 20
RECALL_PAGE = 20
RUNS_PAGE = 25


def _render(
    request: AuthedHttpRequest, agent: Agent, panel: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """The side panel `panel` (an htmx swap) or the whole workspace around it.

    The memory URL's side panel is the context window's (marked as the Memory tab): `context` then holds the
    context window's data for the swap; the whole page leaves that panel to load itself."""
    base = {"agent": agent, "panel": panel, "panels": PANELS, **context}
    if request.htmx and not request.htmx.boosted:
        partial = "context" if panel == "memory" else panel
        return render(request, f"{TEMPLATE}#{partial}-panel", base, status=status)
    base.setdefault("memory", memory_context(request, agent))
    base.update(chat_context(request, agent))
    base["chat_form"] = ChatForm()
    return render(request, TEMPLATE, base, status=status)


def _day_bounds(start: dt.date | None, end: dt.date | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    tz = timezone.get_current_timezone()
    lo = dt.datetime.combine(start, dt.time.min, tzinfo=tz) if start else None
    hi = dt.datetime.combine(end, dt.time.max, tzinfo=tz) if end else None
    return lo, hi


# Core memory -----------------------------------------------------------------------------------------------------


def _block_qs(agent: Agent) -> QuerySet[Block]:
    """The agent's blocks in attach order, each with how many agents share it."""
    sharing = AgentBlock.objects.filter(block_id=OuterRef("pk")).values("block_id").annotate(n=Count("*")).values("n")
    attached = AgentBlock.objects.filter(agent_id=agent.pk, block_id=OuterRef("pk")).values("created_at")[:1]
    return (
        Block.objects.filter(pk__in=AgentBlock.objects.filter(agent_id=agent.pk).values("block_id"))
        .annotate(agent_count=Subquery(sharing), attached_at=Subquery(attached))
        .order_by("attached_at", "label")
    )


def block_or_404(agent: Agent, block_id: uuid.UUID) -> Block:
    """One of the agent's blocks (annotated like the panel's), or a 404."""
    block = _block_qs(agent).filter(pk=block_id).first()
    if block is None:
        raise Http404
    return block


def memory_context(request: AuthedHttpRequest, agent: Agent, **extra: Any) -> dict[str, Any]:
    """The memory column's data: the attached blocks and the ones that could be attached."""
    attached = list(_block_qs(agent))
    # Blocks this agent could attach: not one it has, nor one whose label it already uses (labels are unique
    # per agent), each named with the agents that use it, so another agent's persona is not mistaken for a
    # free block.
    candidates = (
        Block.objects.filter(organization_id=agent.organization_id, is_template=False)
        .exclude(pk__in=[b.pk for b in attached])
        .exclude(label__in=[b.label for b in attached])
        .prefetch_related(Prefetch("agents", queryset=Agent.objects.order_by("name").only("id", "name")))
        .order_by("label", "created_at")[:100]
    )
    free: list[Block] = []
    used: list[Block] = []
    for block in candidates:
        (used if block.agents.all() else free).append(block)
    shareable = {"free": free, "used": used} if candidates else None
    return {"blocks": attached, "shareable": shareable, **extra}


def render_memory(request: AuthedHttpRequest, agent: Agent, **extra: Any) -> HttpResponse:
    """The memory column after a change to it (an htmx swap), or the whole page."""
    memory = memory_context(request, agent, **extra)
    if request.htmx and not request.htmx.boosted:
        return render(request, f"{TEMPLATE}#memory-column", {"agent": agent, "memory": memory})
    return _render(request, agent, "memory", {"memory": memory})


@require_GET
def memory_panel(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """The agent's page; its memory column alone for an htmx request aimed at it."""
    agent = agent_or_404(request, agent_id)
    if not request.htmx or request.htmx.boosted:
        return _render(request, agent, "memory", {})
    if request.htmx.target == MEMORY_COLUMN:
        return render_memory(request, agent)
    return _render(request, agent, "memory", context_window_context(request, agent))


@require_GET
def block_history(request: AuthedHttpRequest, agent_id: uuid.UUID, block_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    block = block_or_404(agent, block_id)
    revisions = [
        {"revision": r, "diff": presenters.inline_diff(r.before, r.after)}
        for r in block_revision_list(actor=request.user, block_id=block.pk)[:30]
    ]
    return render(request, f"{TEMPLATE}#block-history", {"agent": agent, "block": block, "revisions": revisions})


# Archival memory -------------------------------------------------------------------------------------------------


@require_GET
def archival_panel(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    return render_archival(request, agent_or_404(request, agent_id))


def render_archival(
    request: AuthedHttpRequest,
    agent: Agent,
    *,
    archive_id: uuid.UUID | None = None,
    status_code: int | None = None,
    **extra: Any,
) -> HttpResponse:
    """The agent's archival memory (a search also covers its attached archives), or one shared archive's."""
    form = ArchivalSearchForm(request.GET or None)
    page = 1
    passages: list[Any] = []
    searched = False
    error = ""
    status = 200
    shared = archive_panel_context(request, agent, archive_id)
    if form.is_bound and not form.is_valid():
        error, status = field_errors({name: [str(e) for e in errs] for name, errs in form.errors.items()}), 422
    else:
        data = form.cleaned_data if form.is_bound else {}
        if archive_id is None and data.get("archive"):
            shared = archive_panel_context(request, agent, data["archive"])
        archive = shared["archive"]
        page = data.get("page") or 1
        start, end = _day_bounds(data.get("start"), data.get("end"))
        query = (data.get("q") or "").strip()
        tags = form.tag_list() if form.is_bound else []
        offset = (page - 1) * ARCHIVAL_PAGE
        if query:
            searched = True
            try:
                hits = passages_search(
                    organization_id=agent.organization_id,
                    agent_ids=[] if archive else [agent.pk],
                    archive_ids=[archive.pk] if archive else archive_ids_of_agent(agent_id=agent.pk),
                    embedding_model=archive.embedding if archive else agent.embedding,
                    query=query,
                    mode=data.get("mode") or "hybrid",
                    tags=tags or None,
                    tag_match_mode=data.get("tag_match") or "any",
                    top_k=ARCHIVAL_PAGE + 1,
                    start=start,
                    end=end,
                    offset=offset,
                )
            except ValidationError as exc:
                error, status, hits = field_errors(exc), 422, []
            except EmbeddingError as exc:
                error, hits = str(exc), []
            passages = [{"passage": h.passage, "score": h.score} for h in hits]
        else:
            try:
                qs = passage_filter(
                    actor=request.user,
                    agent_ids=[] if archive else [agent.pk],
                    archive_ids=[archive.pk] if archive else [],
                    tags=tags or None,
                    tag_match_mode=data.get("tag_match") or "any",
                    start=start,
                    end=end,
                )
                rows = list(qs[offset : offset + ARCHIVAL_PAGE + 1])
            except ValidationError as exc:
                error, status, rows = field_errors(exc), 422, []
            passages = [{"passage": p, "score": None} for p in rows]
    names = shared["archive_names"]
    for row in passages:
        row["archive"] = names.get(row["passage"].archive_id, "") if row["passage"].archive_id else ""
    browsed = shared["archive"]
    context = {
        "form": form,
        "insert_form": PassageInsertForm(),
        **shared,
        "passages": passages[:ARCHIVAL_PAGE],
        "has_next": len(passages) > ARCHIVAL_PAGE,
        "page": page,
        "searched": searched,
        "error": error,
        "query_string": _without_page(request),
        "total": passage_queryset(actor=request.user)
        .filter(**({"archive_id": browsed.pk} if browsed else {"agent_id": agent.pk}))
        .count(),
        **extra,
    }
    return _render(request, agent, "archival", context, status=status_code or status)


def _without_page(request: AuthedHttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


# Recall memory ---------------------------------------------------------------------------------------------------


@require_GET
def recall_panel(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    form = RecallSearchForm(request.GET or None)
    hits: list[Any] = []
    page = 1
    error = ""
    searched = False
    if form.is_bound and form.is_valid() and form.cleaned_data.get("q", "").strip():
        data = form.cleaned_data
        page = data.get("page") or 1
        start, end = _day_bounds(data.get("start"), data.get("end"))
        searched = True
        try:
            found = message_search(
                agent=agent,
                query=data["q"],
                roles=data.get("roles") or None,
                start=start,
                end=end,
                limit=RECALL_PAGE + 1,
                offset=(page - 1) * RECALL_PAGE,
            )
        except ValidationError as exc:
            error = "; ".join(exc.messages)
            found = []
        hits = [{"item": presenters.chat_item(h.message), "score": h.score} for h in found]
    context = {
        "form": form,
        "hits": hits[:RECALL_PAGE],
        "has_next": len(hits) > RECALL_PAGE,
        "page": page,
        "searched": searched,
        "error": error,
        "query_string": _without_page(request),
        "total": agent.messages.count(),
    }
    return _render(request, agent, "recall", context)


# Context window --------------------------------------------------------------------------------------------------


def context_window_context(request: AuthedHttpRequest, agent: Agent) -> dict[str, Any]:
    """The context window panel's data: the breakdown and the exact request of a step (?step=, else the newest)."""
    # agent_id too: the related manager sets each row's agent, which would load a deferred field per row.
    fields = ("id", "agent_id", "index", "run_id", "created_at", "model")
    steps = list(agent.steps.order_by("-created_at").only(*fields)[:30])
    chosen: Step | None = None
    if request.GET.get("step"):
        with or_404():
            chosen = agent.steps.get(pk=id_or_404(request.GET["step"]))
    elif steps:
        chosen = agent.steps.get(pk=steps[0].pk)
    return {
        "breakdown": context_breakdown(agent),
        "steps": steps,
        "step": chosen,
        # A step asked for by id stays shown when the panel re-fetches; otherwise it follows the newest step.
        "pinned": bool(request.GET.get("step")),
        "request_json": presenters.pretty_json(chosen.request) if chosen else "",
    }


@require_GET
def context_panel(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    return _render(request, agent, "context", context_window_context(request, agent))


# Runs and steps --------------------------------------------------------------------------------------------------


@require_GET
def runs_panel(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    failed_only = request.GET.get("failed") == "1"
    try:
        page = min(max(1, int(request.GET.get("page", "1"))), PAGE_MAX)
    except ValueError:  # also a number of more than 4,300 digits, which int() refuses
        page = 1
    runs = run_list(actor=request.user, agent_id=agent.pk).order_by("-created_at", "-id")
    if failed_only:
        runs = runs.filter(Q(status=RunStatus.FAILED) | Q(steps__error__gt="")).distinct()
    offset = (page - 1) * RUNS_PAGE
    rows = list(runs[offset : offset + RUNS_PAGE + 1])
    context = {
        "runs": rows[:RUNS_PAGE],
        "failed_only": failed_only,
        "page": page,
        "has_next": len(rows) > RUNS_PAGE,
        "query_string": _without_page(request),
    }
    return _render(request, agent, "runs", context)


@require_GET
def run_steps(request: AuthedHttpRequest, agent_id: uuid.UUID, run_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    run = agent.runs.filter(pk=run_id).first()
    if run is None:
        raise Http404
    steps = [
        {
            "step": s,
            "request_json": presenters.pretty_json(s.request),
            "response_json": presenters.pretty_json(s.response),
            "tool_calls": presenters.step_tool_calls(s.response),
        }
        for s in run.steps.order_by("index")
    ]
    return render(request, f"{TEMPLATE}#run-steps", {"agent": agent, "run": run, "steps": steps})


# Tools and settings ----------------------------------------------------------------------------------------------


def render_tools(request: AuthedHttpRequest, agent: Agent, **extra: Any) -> HttpResponse:
    attached = list(agent.tools.order_by("name"))
    available = tool_list(actor=request.user).exclude(pk__in=[t.pk for t in attached])
    held = approval_tools(agent.tool_rules)
    tools = [
        {"tool": t, "schema": presenters.pretty_json(t.json_schema), "requires_approval": t.name in held}
        for t in attached
    ]
    return _render(request, agent, "tools", {"tools": tools, "available": available, **extra})


@require_GET
def tools_panel(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    return render_tools(request, agent_or_404(request, agent_id))


@require_POST
def tool_attach(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    try:
        agent_tool_attach(agent=agent, tool=tool_or_404(request, id_or_404(request.POST.get("tool", ""))))
    except ValidationError as exc:
        return render_tools(request, agent, error="; ".join(exc.messages))
    return render_tools(request, agent)


@require_POST
def tool_detach(request: AuthedHttpRequest, agent_id: uuid.UUID, tool_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    agent_tool_detach(agent=agent, tool=tool_or_404(request, tool_id))
    return render_tools(request, agent)


@require_http_methods(["GET", "POST"])
def settings_panel(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    saved = False
    status = 200
    if request.method == "POST":
        form = AgentSettingsForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if resolve_model(data["embedding"]) != resolve_model(agent.embedding):
                    # Refused before anything is saved: a model that cannot embed would start a job that fails.
                    embedding_model_check(data["embedding"])
                agent = agent_update(
                    agent=agent,
                    name=data["name"],
                    agent_type=data["agent_type"],
                    model=data["model"],
                    embedding=data["embedding"],
                    system=data["system"],
                    context_window_limit=data["context_window_limit"],
                    tags=form.tag_list(),
                    secrets=form.secret_values(agent_secrets(agent=agent)),
                )
            except (ValidationError, EmbeddingError) as exc:
                if isinstance(exc, EmbeddingError):
                    form.add_error("embedding", str(exc))
                else:
                    for field, errors in exc.message_dict.items():
                        for error in errors:
                            form.add_error(field if field in form.fields else None, error)
            else:
                saved = True
                form = AgentSettingsForm(instance_agent=agent)
        status = 200 if saved else 422
    else:
        form = AgentSettingsForm(instance_agent=agent)
    job = embedding_job_latest(actor=request.user, agent_id=agent.pk)
    return _render(request, agent, "settings", {"form": form, "saved": saved, "job": job}, status=status)


@require_GET
def embedding_job(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    job = embedding_job_latest(actor=request.user, agent_id=agent.pk)
    return render(request, f"{TEMPLATE}#embedding-job", {"agent": agent, "job": job})


@require_POST
def messages_reset_view(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    moved = messages_reset(agent=agent)
    response = _render(
        request,
        agent,
        "settings",
        {"form": AgentSettingsForm(instance_agent=agent), "notice": f"{moved} messages left the context window."},
    )
    return trigger_client_event(response, "engram:resync", {})


@require_POST
def agent_delete_view(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    name = agent.name
    agent_delete(agent=agent)
    messages.success(request, f"Deleted {name}.")
    return HttpResponseClientRedirect(reverse("ade:home")) if request.htmx else redirect("ade:home")
