"""Folders and files in agent files, as Letta's format has them: top-level `sources` (folders) and `files` (with
their extracted text as `content`), and per agent `source_ids` and `files_agents` (which files are open, at which
lines). On import the folders are created afresh in the importer's organization (a name already taken gets a
suffix) and each file is processed again from its text (chunked and embedded with the folder's model)."""

from typing import Any

from django.db import IntegrityError, transaction

from agents.models import Agent
from agents.services.folders import agent_folder_attach
from api.agent_files.parse import _fail, _list, _local_id, _obj, _str
from api.wire.files import folder_to_wire
from files.models import File, FileAgent, Folder
from files.selectors import agent_file_views, agent_folders
from files.services.folders import FolderNameTaken, folder_create
from files.services.processing import process_after_commit
from files.services.uploads import clean_file_name
from lib.ids import local_id

JSON = dict[str, Any]
MAX_FOLDERS = 100
MAX_FILES = 10_000


def folders_export(agents: list[Agent]) -> tuple[list[JSON], list[JSON], list[tuple[list[str], list[JSON]]]]:
    """(sources, files, per agent (source_ids, files_agents)) for the agents of one file."""
    sources: list[JSON] = []
    files: list[JSON] = []
    source_ids: dict[Any, str] = {}
    file_ids: dict[Any, str] = {}
    per_agent: list[tuple[list[str], list[JSON]]] = []
    for agent in agents:
        mine: list[str] = []
        for folder in agent_folders(agent_id=agent.id, organization_id=agent.organization_id):
            if folder.id not in source_ids:
                source_ids[folder.id] = local_id("source", len(source_ids))
                sources.append({**folder_to_wire(folder), "id": source_ids[folder.id], "created_by_id": None,
                                "last_updated_by_id": None})  # fmt: skip
                for file in File.objects.filter(folder=folder).defer("raw").order_by("created_at", "id"):
                    file_ids[file.id] = local_id("file", len(file_ids))
                    files.append(
                        {
                            "id": file_ids[file.id],
                            "source_id": source_ids[folder.id],
                            "file_name": file.file_name,
                            "original_file_name": file.original_file_name,
                            "file_type": file.file_type or None,
                            "file_size": file.file_size,
                            "processing_status": file.status,
                            "error_message": file.error_message or None,
                            "content": file.content if file.status == File.Status.COMPLETED else None,
                        }
                    )
            mine.append(source_ids[folder.id])
        views = [
            {
                "agent_id": "agent-0",
                "file_id": file_ids[view.file_id],
                "source_id": source_ids[view.folder_id],
                "file_name": view.file.file_name,
                "is_open": view.is_open,
                "visible_content": view.visible_content if view.is_open else None,
                "start_line": view.start_line,
                "end_line": view.end_line,
                "last_accessed_at": view.last_accessed_at.isoformat() if view.last_accessed_at else None,
            }
            for view in agent_file_views(agent_id=agent.id, organization_id=agent.organization_id)
            if view.file_id in file_ids
        ]
        per_agent.append((mine, views))
    return sources, files, per_agent


def folders_import(
    *, organization_id: Any, created_by_id: int | None, data: JSON
) -> tuple[dict[str, Folder], dict[str, File]]:
    """Create the file's folders and files; returns them by their ids in the file. Files without content (not
    processed where they were exported) are recorded in `error`. Processing starts after commit."""
    folders: dict[str, Folder] = {}
    files: dict[str, File] = {}
    for i, raw in enumerate(_list(data.get("sources"), "sources", maximum=MAX_FOLDERS)):
        entry = _obj(raw, f"sources[{i}]")
        local = _local_id(entry.get("id"), f"sources[{i}].id")
        name = _str(entry.get("name"), f"sources[{i}].name", required=True) or ""
        config = entry.get("embedding_config") if isinstance(entry.get("embedding_config"), dict) else {}
        for attempt in range(100):
            try:
                with transaction.atomic():
                    folders[local] = folder_create(
                        organization_id=organization_id,
                        name=name if attempt == 0 else f"{name}_({attempt})",
                        description=_str(entry.get("description"), f"sources[{i}].description"),
                        instructions=_str(entry.get("instructions"), f"sources[{i}].instructions"),
                        metadata=entry.get("metadata") or None,
                        embedding=(config or {}).get("handle") or None,
                        embedding_chunk_size=(config or {}).get("embedding_chunk_size"),
                        created_by_id=created_by_id,
                    )
                break
            except FolderNameTaken:
                continue
        else:
            raise _fail(f"sources[{i}].name", "no free folder name")
    for i, raw in enumerate(_list(data.get("files"), "files", maximum=MAX_FILES)):
        entry = _obj(raw, f"files[{i}]")
        local = _local_id(entry.get("id"), f"files[{i}].id")
        folder = folders.get(str(entry.get("source_id")))
        if folder is None:
            raise _fail(f"files[{i}].source_id", f"unknown source id {entry.get('source_id')!r} (not in the file)")
        content = _str(entry.get("content"), f"files[{i}].content") or ""
        name = clean_file_name(_str(entry.get("file_name"), f"files[{i}].file_name", required=True) or "")
        try:
            with transaction.atomic():
                file = File.objects.create(
                    organization_id=organization_id,
                    folder=folder,
                    file_name=name,
                    original_file_name=str(entry.get("original_file_name") or name)[:255],
                    file_type=str(entry.get("file_type") or "")[:100],
                    file_size=len(content.encode()),
                    content=content,
                    status=File.Status.PENDING if content.strip() else File.Status.ERROR,
                    error_message="" if content.strip() else f"{name}: the agent file carries no text for it",
                )
        except IntegrityError:
            raise _fail(f"files[{i}].file_name", f"{name!r} appears twice in one folder") from None
        if content.strip():
            process_after_commit(file_id=file.id)
        files[local] = file
    return folders, files


def agent_folders_import(
    *, agent: Agent, entry: JSON, path: str, folders: dict[str, Folder], files: dict[str, File]
) -> None:
    """Attach the agent's folders (`source_ids`) and restore which files it had open (`files_agents`)."""
    for i, ref in enumerate(_list(entry.get("source_ids"), f"{path}.source_ids", maximum=MAX_FOLDERS)):
        if ref not in folders:
            raise _fail(f"{path}.source_ids[{i}]", f"unknown source id {ref!r} (not in the file's sources)")
        agent_folder_attach(agent=agent, folder=folders[ref])
    for i, raw in enumerate(_list(entry.get("files_agents"), f"{path}.files_agents", maximum=MAX_FILES)):
        view = _obj(raw, f"{path}.files_agents[{i}]")
        file = files.get(str(view.get("file_id")))
        if file is None:
            raise _fail(f"{path}.files_agents[{i}].file_id", f"unknown file id {view.get('file_id')!r}")
        if view.get("is_open") is True:
            start, end = view.get("start_line"), view.get("end_line")
            FileAgent.objects.filter(agent_id=agent.id, file=file).update(
                is_open=True,
                visible_content=_str(view.get("visible_content"), f"{path}.files_agents[{i}].visible_content") or "",
                start_line=start if isinstance(start, int) and start > 0 else None,
                end_line=end if isinstance(end, int) and end > 0 else None,
            )
