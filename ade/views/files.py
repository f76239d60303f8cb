"""The Files panel: the agent's folders (create, attach, detach), their files (drag-and-drop upload with a progress
bar per file, processing status and progress, the error reason, a preview, delete) and which files are open in
the agent's context at which lines (close). The list polls itself while a file is being processed."""

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthedHttpRequest
from accounts.selectors import organization_id_for
from ade.pickers import model_options
from ade.views.common import TEMPLATE, agent_or_404, id_or_404, or_404
from ade.views.workspace import _render
from agents.models import Agent
from agents.services.folders import agent_folder_attach, agent_folder_detach
from files import windows
from files.models import File, Folder
from files.selectors import agent_file_views, agent_folders, file_get, folder_get, folder_queryset
from files.services.folders import FolderNameTaken, folder_create
from files.services.uploads import DuplicateFile, FileTooLarge, file_delete, file_upload

PREVIEW_CHARS = 4000
BUSY = (File.Status.PENDING, File.Status.PARSING, File.Status.EMBEDDING)


def _folder_or_404(request: AuthedHttpRequest, raw: object) -> Folder:
    with or_404():
        return folder_get(actor=request.user, folder_id=id_or_404(raw))


def _file_or_404(request: AuthedHttpRequest, agent: Agent, file_id: uuid.UUID) -> File:
    """A file of one of the agent's folders (of the user's organization)."""
    with or_404():
        file = file_get(actor=request.user, file_id=file_id, content=True)
    if not agent_folders(agent_id=agent.id, organization_id=agent.organization_id).filter(pk=file.folder_id).exists():
        raise Http404
    return file


def _files_context(agent: Agent) -> dict[str, Any]:
    folders = list(agent_folders(agent_id=agent.id, organization_id=agent.organization_id))
    views = {v.file_id: v for v in agent_file_views(agent_id=agent.id, organization_id=agent.organization_id)}
    rows = []
    busy = False
    for folder in folders:
        files = list(File.objects.filter(folder=folder).defer("raw", "content").order_by("created_at", "id"))
        busy = busy or any(f.status in BUSY for f in files)
        rows.append({"folder": folder, "files": [{"file": f, "view": views.get(f.id)} for f in files]})
    return {
        "folders": rows,
        "busy": busy,
        "open_count": sum(1 for v in views.values() if v.is_open),
        "max_open": settings.ENGRAM_FILES_MAX_OPEN,
        "max_bytes": settings.ENGRAM_FILE_MAX_BYTES,
    }


def render_files(request: AuthedHttpRequest, agent: Agent, **extra: Any) -> HttpResponse:
    attached = {row["folder"].id for row in _files_context(agent)["folders"]}
    available = folder_queryset(actor=request.user).exclude(pk__in=attached).order_by("name")
    context = {"available_folders": available, "embedding_options": model_options("embedding")}
    return _render(request, agent, "files", {**_files_context(agent), **context, **extra})


@require_GET
def files_panel(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    return render_files(request, agent_or_404(request, agent_id))


@require_GET
def files_list(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """The folders and files alone (what polls while files are processed)."""
    agent = agent_or_404(request, agent_id)
    return render(request, f"{TEMPLATE}#files-list", {"agent": agent, **_files_context(agent)})


@require_POST
def folder_create_view(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """A new folder, attached to this agent at once (as Letta's ADE does)."""
    agent = agent_or_404(request, agent_id)
    # The server default, or one of the offered models (e.g. the fast static one for a big document folder).
    embedding = request.POST.get("embedding") or None
    if embedding is not None and embedding not in {handle for handle, *_ in model_options("embedding")}:
        return render_files(request, agent, error="Embedding model: choose one of the offered models.")
    try:
        folder = folder_create(
            organization_id=organization_id_for(request.user),
            name=request.POST.get("name", ""),
            description=request.POST.get("description", ""),
            instructions=request.POST.get("instructions", ""),
            embedding=embedding,
            created_by_id=request.user.pk,
        )
    except ValidationError as exc:
        return render_files(request, agent, error="; ".join(exc.messages))
    except FolderNameTaken as exc:
        return render_files(request, agent, error=str(exc))
    agent_folder_attach(agent=agent, folder=folder)
    return render_files(request, agent)


@require_POST
def folder_attach_view(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    agent_folder_attach(agent=agent, folder=_folder_or_404(request, request.POST.get("folder", "")))
    return render_files(request, agent)


@require_POST
def folder_detach_view(request: AuthedHttpRequest, agent_id: uuid.UUID, folder_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    agent_folder_detach(agent=agent, folder=_folder_or_404(request, folder_id))
    return render_files(request, agent)


@require_POST
def file_upload_view(request: AuthedHttpRequest, agent_id: uuid.UUID, folder_id: uuid.UUID) -> JsonResponse:
    """One file per request (the panel's script sends each dropped file on its own, with a progress bar)."""
    agent = agent_or_404(request, agent_id)
    folder = _folder_or_404(request, folder_id)
    if not agent_folders(agent_id=agent.id, organization_id=agent.organization_id).filter(pk=folder.pk).exists():
        raise Http404
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": "file: choose a file to upload"}, status=422)
    try:
        file, _ = file_upload(
            folder=folder, name=upload.name or "", data=upload.read(), content_type=upload.content_type
        )
    except ValidationError as exc:
        return JsonResponse({"error": "; ".join(exc.messages)}, status=422)
    except FileTooLarge as exc:
        return JsonResponse({"error": str(exc)}, status=413)
    except DuplicateFile as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    return JsonResponse({"id": str(file.id), "file_name": file.file_name, "status": file.status})


@require_POST
def file_delete_view(request: AuthedHttpRequest, agent_id: uuid.UUID, file_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    file_delete(file=_file_or_404(request, agent, file_id))
    return render_files(request, agent)


@require_POST
def file_close_view(request: AuthedHttpRequest, agent_id: uuid.UUID, file_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    file = _file_or_404(request, agent, file_id)
    view = agent_file_views(agent_id=agent.id, organization_id=agent.organization_id).filter(file=file).first()
    if view is not None:
        windows.file_close(view=view)
    return render_files(request, agent)


@require_GET
def file_preview(request: AuthedHttpRequest, agent_id: uuid.UUID, file_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    file = _file_or_404(request, agent, file_id)
    text = file.content[:PREVIEW_CHARS]
    return render(
        request,
        f"{TEMPLATE}#file-preview",
        {"file": file, "preview": text, "cut": len(file.content) > PREVIEW_CHARS},
    )
