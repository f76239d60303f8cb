"""Memory panels' writes: core-memory blocks (edit, revert, attach/detach), archival passages and shared archives
(create, attach, detach).
Every write goes through a service of memory/ or agents/; these views only authorize, validate input and render."""

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from accounts.http import AuthedHttpRequest
from ade.forms import ArchiveAttachForm, ArchiveCreateForm, BlockCreateForm, BlockEditForm, PassageInsertForm
from ade.views.common import TEMPLATE, agent_or_404, id_or_404, or_404
from ade.views.workspace import block_or_404, render_archival, render_memory
from agents.services.agents import agent_block_attach, agent_block_detach
from memory.models import Archive, Block
from memory.selectors import block_get, block_revision_get, block_revision_list
from memory.selectors_archives import archive_get
from memory.selectors_passages import passage_get
from memory.services.archives import archive_attach, archive_create, archive_detach
from memory.services.blocks import UNSET, BlockConflictError, block_create, block_revert, block_update
from memory.services.passages import passage_delete, passage_insert


def _errors(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


@require_http_methods(["GET", "POST"])
def block_card(request: AuthedHttpRequest, agent_id: uuid.UUID, block_id: uuid.UUID) -> HttpResponse:
    """GET: the block's card (or its edit form with ?edit=1). POST: save a new value typed in the ADE."""
    agent = agent_or_404(request, agent_id)
    block = block_or_404(agent, block_id)
    if request.method == "POST":
        form = BlockEditForm(request.POST)
        if form.is_valid():
            try:
                block_update(
                    block=block,
                    actor=request.user,
                    source="ade",
                    value=form.cleaned_data["value"],
                    limit=form.cleaned_data["limit"],
                    # A form without the field (not the ADE's) writes unconditionally.
                    base_revision_id=form.cleaned_data["base_revision"] if "base_revision" in request.POST else UNSET,
                )
            except BlockConflictError as exc:
                # Someone (usually the agent) wrote the block meanwhile: keep the typed text, show theirs beside
                # it, and base the form on their revision so saving again is a deliberate overwrite.
                data = {**form.cleaned_data, "base_revision": _latest_revision(request, block)}
                form = BlockEditForm(initial=data)
                context = {"agent": agent, "block": block, "form": form, "conflict": exc.current.value}
                return render(request, f"{TEMPLATE}#block-edit", context, status=409)
            except ValidationError as exc:
                form.add_error(None, _errors(exc))
            else:
                block = block_or_404(agent, block_id)
                return render(request, f"{TEMPLATE}#block-card", {"agent": agent, "block": block})
        return render(request, f"{TEMPLATE}#block-edit", {"agent": agent, "block": block, "form": form})
    if request.GET.get("edit") and not block.read_only:
        base = _latest_revision(request, block)
        form = BlockEditForm(initial={"value": block.value, "limit": block.limit, "base_revision": base})
        context = {"agent": agent, "block": block, "form": form}
        return render(request, f"{TEMPLATE}#block-edit", context)
    return render(request, f"{TEMPLATE}#block-card", {"agent": agent, "block": block})


def _latest_revision(request: AuthedHttpRequest, block: Block) -> uuid.UUID | None:
    revision: uuid.UUID | None = (
        block_revision_list(actor=request.user, block_id=block.pk).values_list("id", flat=True).first()
    )
    return revision


@require_POST
def block_revert_view(
    request: AuthedHttpRequest, agent_id: uuid.UUID, block_id: uuid.UUID, revision_id: uuid.UUID
) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    block = block_or_404(agent, block_id)
    with or_404():
        revision = block_revision_get(actor=request.user, revision_id=revision_id)
    if revision.block_id != block.pk:
        raise Http404
    error = ""
    try:
        block_revert(revision=revision, actor=request.user)
    except ValidationError as exc:
        error = _errors(exc)
    block = block_or_404(agent, block_id)
    return render(request, f"{TEMPLATE}#block-card", {"agent": agent, "block": block, "block_error": error})


@require_POST
def block_attach(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    with or_404():
        block = block_get(actor=request.user, block_id=id_or_404(request.POST.get("block", "")))
    try:
        agent_block_attach(agent=agent, block=block)
    except ValidationError as exc:
        return render_memory(request, agent, error=_errors(exc))
    return render_memory(request, agent)


@require_POST
def block_create_view(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    form = BlockCreateForm(request.POST)
    if not form.is_valid():
        return render_memory(request, agent, create_form=form)
    try:
        # One step for the user: a block that cannot be attached (label taken) is not left behind.
        with transaction.atomic():
            block = block_create(
                actor=request.user,
                label=form.cleaned_data["label"],
                value=form.cleaned_data["value"],
                limit=form.cleaned_data["limit"],
            )
            agent_block_attach(agent=agent, block=block)
    except ValidationError as exc:
        form.add_error(None, _errors(exc))
        return render_memory(request, agent, create_form=form)
    return render_memory(request, agent)


@require_POST
def block_detach(request: AuthedHttpRequest, agent_id: uuid.UUID, block_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    agent_block_detach(agent=agent, block=block_or_404(agent, block_id))
    return render_memory(request, agent)


def _archive_or_404(request: AuthedHttpRequest, archive_id: uuid.UUID) -> Archive:
    with or_404():
        return archive_get(actor=request.user, archive_id=archive_id)


@require_POST
def passage_insert_view(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """Into the agent's own archival memory, or into the shared archive the form names."""
    agent = agent_or_404(request, agent_id)
    form = PassageInsertForm(request.POST)
    error = ""
    archive = None
    if form.is_valid():
        archive = _archive_or_404(request, form.cleaned_data["archive"]) if form.cleaned_data.get("archive") else None
        owner = {"archive": archive} if archive else {"agent": agent}
        try:
            passage_insert(text=form.cleaned_data["text"], tags=form.tag_list(), created_by_id=request.user.pk, **owner)
        except ValidationError as exc:
            error = _errors(exc)
    else:
        error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
    notice = "" if error else "Passage inserted."
    return render_archival(request, agent, archive_id=archive.pk if archive else None, error=error, notice=notice)


@require_POST
def archive_create_view(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    """A new shared archive, attached to this agent."""
    agent = agent_or_404(request, agent_id)
    form = ArchiveCreateForm(request.POST)
    if not form.is_valid():
        error = "; ".join(f"{name}: {' '.join(str(e) for e in errs)}" for name, errs in form.errors.items())
        return render_archival(request, agent, error=error, status_code=422)
    try:
        with transaction.atomic():
            archive = archive_create(
                actor=request.user, name=form.cleaned_data["name"], description=form.cleaned_data["description"]
            )
            archive_attach(archive=archive, agent=agent)
    except ValidationError as exc:
        return render_archival(request, agent, error=_errors(exc), status_code=422)
    return render_archival(request, agent, notice=f"Archive {archive.name} created and attached.")


@require_POST
def archive_attach_view(request: AuthedHttpRequest, agent_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    form = ArchiveAttachForm(request.POST)
    if not form.is_valid():
        return render_archival(request, agent, error="archive: choose an archive to attach", status_code=422)
    archive = _archive_or_404(request, form.cleaned_data["archive"])
    archive_attach(archive=archive, agent=agent)
    return render_archival(request, agent, notice=f"Archive {archive.name} attached.")


@require_POST
def archive_detach_view(request: AuthedHttpRequest, agent_id: uuid.UUID, archive_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    archive = _archive_or_404(request, archive_id)
    archive_detach(archive=archive, agent=agent)
    return render_archival(request, agent, notice=f"Archive {archive.name} detached.")


@require_POST
def passage_delete_view(request: AuthedHttpRequest, agent_id: uuid.UUID, passage_id: uuid.UUID) -> HttpResponse:
    agent = agent_or_404(request, agent_id)
    with or_404():
        passage = passage_get(actor=request.user, passage_id=passage_id)
    if passage.agent_id != agent.pk and passage.archive_id is None:  # its own, or a shared archive's
        raise Http404
    passage_delete(passage=passage)
    # The panel's count (and page) re-read themselves.
    return trigger_client_event(HttpResponse(""), "engram:passages", {})
