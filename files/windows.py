"""What an agent sees of its files: open windows (a range of lines, within a character budget), at most
ENGRAM_FILES_MAX_OPEN open at once (opening one more closes the least recently used), and their rendering into
the agent's system message. Tools (agents.tools.files) and the /v1/agents/{id}/files routes share these."""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from files.models import File, FileAgent, Folder
from files.selectors import agent_file_views, agent_folders


class FileNotFoundForAgent(Exception):
    """No file of that name (or id) in the agent's attached folders; the message lists what there is."""


@dataclass(frozen=True)
class Opened:
    view: FileAgent
    closed: list[str]  # names of files closed to make room (least recently used)
    truncated: bool


def display_name(folder: Folder, file: File) -> str:
    return f"{folder.name}/{file.file_name}"


def _window(content: str, start: int | None, length: int | None) -> tuple[str, int, int, bool]:
    lines = content.split("\n")
    first = max(1, start or 1)
    if first > len(lines):
        raise ValueError(f"offset {first} is past the end of the file ({len(lines)} lines)")
    last = len(lines) if not length else min(len(lines), first + max(1, length) - 1)
    budget = settings.ENGRAM_FILE_VIEW_CHARS
    shown: list[str] = []
    size = 0
    truncated = False
    for number in range(first, last + 1):
        line = f"{number}: {lines[number - 1]}"
        if size + len(line) + 1 > budget and shown:
            last, truncated = number - 1, True
            break
        shown.append(line[:budget])
        size += len(line) + 1
    return "\n".join(shown), first, last, truncated


def view_by_name(*, agent_id: uuid.UUID, organization_id: uuid.UUID, name: str) -> FileAgent:
    views = list(agent_file_views(agent_id=agent_id, organization_id=organization_id))
    exact = [v for v in views if display_name(v.folder, v.file) == name]
    bare = [v for v in views if v.file.file_name == name]
    found = exact or bare
    if len(found) == 1:
        return found[0]
    names = ", ".join(sorted(display_name(v.folder, v.file) for v in views)[:50]) or "none"
    if found:
        raise FileNotFoundForAgent(f"{name!r} is in several folders; name it as folder/file: {names}")
    raise FileNotFoundForAgent(f"No file named {name!r}. Files: {names}")


def file_open(*, view: FileAgent, offset: int | None = None, length: int | None = None) -> Opened:
    """Open (or move) the agent's window on a file: lines offset..offset+length-1 (1-based; all when not given),
    cut at ENGRAM_FILE_VIEW_CHARS characters. Raises ValueError for a file not yet processed or a bad offset."""
    file = File.objects.only("id", "content", "status", "file_name").get(pk=view.file_id)
    if file.status != File.Status.COMPLETED:
        raise ValueError(f"{file.file_name} is not ready to read (status: {file.status})")
    visible, first, last, truncated = _window(file.content, offset, length)
    closed: list[str] = []
    with transaction.atomic():
        now = timezone.now()
        FileAgent.objects.filter(pk=view.pk).update(
            is_open=True, start_line=first, end_line=last, visible_content=visible, last_accessed_at=now
        )
        others = list(
            FileAgent.objects.filter(agent_id=view.agent_id, is_open=True)
            .exclude(pk=view.pk)
            .select_related("file", "folder")
            .only("id", "file__file_name", "folder__name", "last_accessed_at")
            .order_by("-last_accessed_at", "-id")
        )
        excess = others[settings.ENGRAM_FILES_MAX_OPEN - 1 :]
        if excess:
            FileAgent.objects.filter(pk__in=[v.pk for v in excess]).update(
                is_open=False, visible_content="", start_line=None, end_line=None
            )
            closed = [display_name(v.folder, v.file) for v in excess]
    view.is_open, view.start_line, view.end_line, view.visible_content = True, first, last, visible
    view.last_accessed_at = now
    return Opened(view=view, closed=closed, truncated=truncated)


def file_close(*, view: FileAgent) -> None:
    FileAgent.objects.filter(pk=view.pk).update(is_open=False, visible_content="", start_line=None, end_line=None)
    view.is_open, view.visible_content, view.start_line, view.end_line = False, "", None, None


def files_close_all(*, agent_id: uuid.UUID, organization_id: uuid.UUID) -> list[str]:
    views = list(agent_file_views(agent_id=agent_id, organization_id=organization_id).filter(is_open=True))
    FileAgent.objects.filter(pk__in=[v.pk for v in views]).update(
        is_open=False, visible_content="", start_line=None, end_line=None
    )
    return [display_name(v.folder, v.file) for v in views]


def files_touch(*, view_ids: list[uuid.UUID]) -> None:
    if view_ids:
        FileAgent.objects.filter(pk__in=view_ids).update(last_accessed_at=timezone.now())


MAX_CLOSED_LISTED = 100


def render_directories(*, agent_id: uuid.UUID, organization_id: uuid.UUID) -> str:
    """The agent's folders and files as its system message shows them ('' without folders): open files with
    their visible lines, closed ones by name (the first MAX_CLOSED_LISTED)."""
    folders = list(agent_folders(agent_id=agent_id, organization_id=organization_id))
    if not folders:
        return ""
    views = list(
        agent_file_views(agent_id=agent_id, organization_id=organization_id).order_by("file__created_at", "file_id")
    )
    open_count = sum(1 for v in views if v.is_open)
    parts = [
        "<directories>",
        "<file_limits>",
        f"- current_files_open={open_count}",
        f"- max_files_open={settings.ENGRAM_FILES_MAX_OPEN}",
        "</file_limits>",
    ]
    listed = 0
    for folder in folders:
        parts.append(f'<directory name="{_attr(folder.name)}">')
        if folder.description:
            parts += ["<description>", folder.description, "</description>"]
        if folder.instructions:
            parts += ["<instructions>", folder.instructions, "</instructions>"]
        for view in (v for v in views if v.folder_id == folder.id):
            name = _attr(display_name(folder, view.file))
            if view.is_open:
                parts += [
                    f'<file status="open" name="{name}">',
                    "<metadata>",
                    "- read_only=true",
                    f"- lines_shown={view.start_line}-{view.end_line}",
                    f"- chars_current={len(view.visible_content)}",
                    f"- chars_limit={settings.ENGRAM_FILE_VIEW_CHARS}",
                    "</metadata>",
                    "<value>",
                    view.visible_content,
                    "</value>",
                    "</file>",
                ]
            elif listed < MAX_CLOSED_LISTED:
                status = view.file.status
                processing = "" if status == File.Status.COMPLETED else f' processing="{status}"'
                parts.append(f'<file status="closed" name="{name}"{processing}/>')
                listed += 1
        parts.append("</directory>")
    parts.append("</directories>")
    return "\n".join(parts)


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
