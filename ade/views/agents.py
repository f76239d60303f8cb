import json
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.http import AuthedHttpRequest
from ade.forms import AgentCreateForm, AgentImportForm, AgentSearchForm
from ade.views.common import agent_or_404, page_or_partial
from agents.models import AgentTag
from agents.selectors import agent_list
from agents.services.agents import agent_create
from api.agent_files import ImportOptions, agent_export, agent_file_name, agent_file_read, agent_import

LIST_LIMIT = 200


@require_GET
def home(request: AuthedHttpRequest) -> HttpResponse:
    return _render_home(request, create_form=AgentCreateForm())


def _render_home(
    request: AuthedHttpRequest,
    *,
    create_form: AgentCreateForm,
    import_form: AgentImportForm | None = None,
    open_create: bool = False,
    status: int = 200,
) -> HttpResponse:
    form = AgentSearchForm(request.GET)
    form.is_valid()
    agents = agent_list(actor=request.user)
    q, tag = form.cleaned_data.get("q", ""), form.cleaned_data.get("tag", "")
    if q:
        agents = agents.filter(name__icontains=q)
    if tag:
        agents = agents.filter(tag_rows__tag=tag)
    agents = (
        agents.annotate(block_count=Count("blocks", distinct=True))
        .prefetch_related(Prefetch("tag_rows", queryset=AgentTag.objects.order_by("tag")))
        .order_by("-updated_at")[:LIST_LIMIT]
    )
    all_tags = (
        AgentTag.objects.filter(agent__in=agent_list(actor=request.user))
        .values_list("tag", flat=True)
        .distinct()
        .order_by("tag")
    )
    context = {
        "agents": agents,
        "form": form,
        "q": q,
        "tag": tag,
        "all_tags": all_tags,
        "create_form": create_form,
        "import_form": import_form or AgentImportForm(),
        "open_create": open_create,
    }
    return render(request, page_or_partial(request, "ade/home.html", "agent-list"), context, status=status)


# What each preset of the "New agent" form creates. Values are written here, in the ADE's own words. `tools` come
# on top of the type's base tools: both ready-made presets can keep and search facts in archival memory.
ARCHIVAL_TOOLS = ["archival_memory_insert", "archival_memory_search"]
PRESETS: dict[str, dict[str, Any]] = {
    "blank": {"agent_type": "v1", "memory_blocks": [], "tools": []},
    "companion": {
        "agent_type": "memgpt",
        "memory_blocks": [
            {"label": "persona", "value": "I am a warm, curious companion. I remember what matters to my friend."},
            {"label": "human", "value": ""},
        ],
        "tools": ARCHIVAL_TOOLS,
    },
    "assistant": {
        "agent_type": "v1",
        "memory_blocks": [
            {"label": "persona", "value": "I am a concise, helpful assistant."},
            {"label": "human", "value": ""},
        ],
        "tools": ARCHIVAL_TOOLS,
    },
}


@require_http_methods(["GET", "POST"])
def agent_create_view(request: AuthedHttpRequest) -> HttpResponse:
    """POST creates. GET (the address a refused create leaves in the browser) shows the list with the form open."""
    if request.method == "GET":
        return _render_home(request, create_form=AgentCreateForm(), open_create=True)
    form = AgentCreateForm(request.POST)
    if form.is_valid():
        preset = PRESETS[form.cleaned_data["preset"]]
        try:
            agent = agent_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                model=form.cleaned_data["model"] or None,
                context_window_limit=form.cleaned_data["context_window_limit"],
                agent_type=preset["agent_type"],
                memory_blocks=[dict(b) for b in preset["memory_blocks"]],
                tools=list(preset["tools"]),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            return redirect("ade:agent-detail", agent_id=agent.id)
    return _render_home(request, create_form=form, status=422)


@require_http_methods(["GET", "POST"])
def agent_import_view(request: AuthedHttpRequest) -> HttpResponse:
    """POST imports. GET (the address a refused import leaves in the browser) goes back to the list."""
    if request.method == "GET":
        return redirect("ade:home")
    form = AgentImportForm(request.POST, request.FILES)
    if form.is_valid():
        options = ImportOptions(
            strip_messages=form.cleaned_data["strip_messages"],
            override_existing_tools=form.cleaned_data["override_existing_tools"],
            mcp_credentials=form.cleaned_data["mcp_credentials"] or None,
        )
        try:
            document = agent_file_read(upload=form.cleaned_data["file"])
            agents = agent_import(actor=request.user, data=document, options=options)
        except ValidationError as exc:
            for where, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error("file", error if where == "file" else f"{where}: {error}")
        else:
            messages.success(request, f"Imported {', '.join(a.name for a in agents)}.")
            return redirect("ade:agent-detail", agent_id=agents[0].id)
    return _render_home(request, create_form=AgentCreateForm(), import_form=form, status=422)


@require_GET
def agent_export_view(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    document = agent_export(agent=agent)
    response = HttpResponse(json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{agent_file_name(agent)}"'
    return response
