"""The organization's tools in the browser: the library, and an editor for custom tools (Python source with the
schema derived from it, a run panel that runs the source in the sandbox once, unsaved). Every rule is
agents.services.tools', shared with the API's tool routes; these views parse and present."""

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.http import AuthedHttpRequest
from ade import presenters
from ade.tool_forms import STARTER_SOURCE, ToolRunForm, ToolSourceForm, example_args
from ade.views.common import agent_or_404, page_or_partial, tool_or_404
from agents.models import Agent, Tool
from agents.selectors import tool_list
from agents.services.agents import agent_tool_attach
from agents.services.tools import tool_create, tool_delete, tool_run_from_source, tool_update
from agents.tools.limits import ToolProcessesBusy
from agents.tools.sandbox import sandbox_status
from agents.tools.schema import schema_from_source

TEMPLATE = "ade/tools.html"


def _errors_onto(form: ToolSourceForm | ToolRunForm, exc: ValidationError) -> None:
    """A service's {field: reason} onto the form: its own fields by name, any other field named in the text."""
    for field, errors in exc.message_dict.items():
        for error in errors:
            if field in form.fields:
                form.add_error(field, error)
            else:
                form.add_error("source_code", f"{field}: {error}")


@require_GET
def tool_library(request: AuthedHttpRequest) -> HttpResponse:
    tools = list(tool_list(actor=request.user))
    context = {
        "custom": [t for t in tools if t.organization_id is not None],
        "builtin": [t for t in tools if t.organization_id is None],
    }
    return render(request, TEMPLATE, context)


def _editor(
    request: AuthedHttpRequest,
    *,
    tool: Tool | None,
    form: ToolSourceForm,
    agent: Agent | None = None,
    status: int = 200,
    saved: bool = False,
) -> HttpResponse:
    editable = tool is None or tool.organization_id is not None
    if tool is not None and not editable:
        schema, schema_error = tool.json_schema, ""  # a built-in has no source
    else:
        schema, schema_error = _derive(form["source_code"].value() or "")
    context: dict[str, Any] = {
        "tool": tool,
        "form": form,
        "agent": agent,
        "saved": saved,
        "schema_json": presenters.pretty_json(schema) if schema else "",
        "schema_error": schema_error,
        "run_form": ToolRunForm(initial={"args": example_args(schema or {})}),
        "editable": editable,
        "sandbox": sandbox_status(),  # probed once per configuration
    }
    return render(request, page_or_partial(request, "ade/tool_editor.html", "editor"), context, status=status)


def _derive(source: str) -> tuple[dict[str, Any] | None, str]:
    """The schema the source would get, or why it gets none."""
    if not source.strip():
        return None, "Write a function first."
    try:
        return schema_from_source(source), ""
    except ValidationError as exc:
        return None, "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())


def _agent_from(request: AuthedHttpRequest, raw: uuid.UUID | str | None) -> Agent | None:
    if not raw:
        return None
    try:
        return agent_or_404(request, uuid.UUID(str(raw)))
    except ValueError:
        raise Http404 from None


@require_http_methods(["GET", "POST"])
def tool_new(request: AuthedHttpRequest) -> HttpResponse:
    """GET: the editor with a starter function (?agent=<id>: the new tool is attached to that agent). POST: create."""
    if request.method == "GET":
        agent = _agent_from(request, request.GET.get("agent"))
        form = ToolSourceForm(initial={"source_code": STARTER_SOURCE, "agent": agent.pk if agent else None})
        return _editor(request, tool=None, form=form, agent=agent)
    form = ToolSourceForm(request.POST)
    valid = form.is_valid()
    agent = _agent_from(request, form.cleaned_data.get("agent"))  # kept on a refused form too
    if valid:
        try:
            with transaction.atomic():  # attached too, or not created at all
                tool = tool_create(actor=request.user, source_code=form.cleaned_data["source_code"])
                if agent is not None:
                    agent_tool_attach(agent=agent, tool=tool)
        except ValidationError as exc:
            _errors_onto(form, exc)
        else:
            target = reverse("ade:tool-edit", args=[tool.pk]) + "?created=1"
            if agent is not None:
                target = reverse("ade:tools", args=[agent.pk])
            return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    return _editor(request, tool=None, form=form, agent=agent, status=422)


@require_http_methods(["GET", "POST"])
def tool_edit(request: AuthedHttpRequest, tool_id: uuid.UUID) -> HttpResponse:
    """GET: the editor (a built-in is shown read-only). POST: save the source (the schema is derived again)."""
    tool = tool_or_404(request, tool_id)
    if request.method == "GET":
        form = ToolSourceForm(initial={"source_code": tool.source_code})
        return _editor(request, tool=tool, form=form, saved=request.GET.get("created") == "1")
    form = ToolSourceForm(request.POST)
    if form.is_valid():
        try:
            tool = tool_update(tool=tool, source_code=form.cleaned_data["source_code"])
        except ValidationError as exc:
            _errors_onto(form, exc)
        else:
            return _editor(
                request, tool=tool, form=ToolSourceForm(initial={"source_code": tool.source_code}), saved=True
            )
    return _editor(request, tool=tool, form=form, status=422)


@require_POST
def tool_delete_view(request: AuthedHttpRequest, tool_id: uuid.UUID) -> HttpResponse:
    tool = tool_or_404(request, tool_id)
    try:
        tool_delete(tool=tool)
    except ValidationError as exc:
        return HttpResponse("; ".join(exc.messages), status=422)
    target = reverse("ade:tool-library")
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


@require_POST
def tool_schema_preview(request: AuthedHttpRequest) -> HttpResponse:
    """The schema the editor's source would get, re-read as the source is typed (422 with the reason when none)."""
    schema, error = _derive(request.POST.get("source_code", ""))
    context = {"schema_json": presenters.pretty_json(schema) if schema else "", "schema_error": error}
    return render(request, "ade/tool_editor.html#schema", context, status=422 if error else 200)


@require_POST
def tool_run_view(request: AuthedHttpRequest) -> HttpResponse:
    """Run the editor's source once with the given arguments, unsaved, in the sandbox (agents.services.tools, as
    POST /v1/tools/run). A tool that raises is a result with its error, stdout and stderr; bad arguments are a 422."""
    form = ToolRunForm(request.POST)
    context: dict[str, Any] = {"run_form": form, "result": None}
    status = 422
    if form.is_valid():
        try:
            name, result = tool_run_from_source(
                actor=request.user, source_code=form.cleaned_data["source_code"], args=form.cleaned_data["args"]
            )
        except ValidationError as exc:
            _errors_onto(form, exc)
        except ToolProcessesBusy as exc:
            form.add_error(None, str(exc))
            status = 429
        else:
            context.update(result=result, name=name, stdout="\n".join(result.stdout), stderr="\n".join(result.stderr))
            status = 200
    return render(request, "ade/tool_editor.html#run-result", context, status=status)
