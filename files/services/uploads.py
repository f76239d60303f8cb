"""Uploading a file into a folder (Letta's duplicate handling: skip, error, suffix, replace) and deleting one.
The upload stores the bytes and a `pending` file; processing (files.services.processing) starts after commit."""

import uuid
from pathlib import PurePosixPath
from typing import Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from files import parsing
from files.models import File, FileChunk, Folder
from files.services.folders import views_for_new_file
from files.services.processing import process_after_commit
from lib.text import check_text

DuplicateHandling = Literal["skip", "error", "suffix", "replace"]
DUPLICATE_HANDLING = ("skip", "error", "suffix", "replace")


class FileTooLarge(Exception):
    """The upload is over ENGRAM_FILE_MAX_BYTES (a 413 in the API)."""


class DuplicateFile(Exception):
    """A file of that name exists and duplicate_handling is `error` (a 409 in the API)."""


def clean_file_name(name: str) -> str:
    """The base name of an uploaded file (no directories), checked storable and within the column."""
    base = PurePosixPath(str(name).replace("\\", "/")).name.strip()
    if not base or base in (".", ".."):
        raise ValidationError({"file": "has no file name"})
    check_text(base, "file")
    if len(base) > 255:
        raise ValidationError({"file": "name is longer than 255 characters"})
    return base


def _suffixed(folder: Folder, name: str) -> str:
    path = PurePosixPath(name)
    taken = set(File.objects.filter(folder=folder, file_name__startswith=path.stem).values_list("file_name", flat=True))
    n = 1
    while True:
        candidate = f"{path.stem}_({n}){path.suffix}"
        if candidate not in taken:
            return candidate
        n += 1


def file_upload(
    *,
    folder: Folder,
    name: str,
    data: bytes,
    content_type: str | None = None,
    duplicate_handling: DuplicateHandling = "suffix",
) -> tuple[File, bool]:
    """Store an upload; returns (file, created). `skip` with a file of that name returns it (created False).
    Raises ValidationError (empty file, unsupported type, bad name), FileTooLarge, DuplicateFile."""
    if duplicate_handling not in DUPLICATE_HANDLING:
        raise ValidationError({"duplicate_handling": "must be one of skip, error, suffix, replace"})
    original = clean_file_name(name)
    if len(data) > settings.ENGRAM_FILE_MAX_BYTES:
        raise FileTooLarge(
            f"{original} is {len(data):,} bytes; files may be at most {settings.ENGRAM_FILE_MAX_BYTES:,} bytes"
        )
    if not data:
        raise ValidationError({"file": f"{original} is empty"})
    mime = parsing.mime_type(original)
    if mime is None:
        raise ValidationError(
            {"file": f"{original}: this file type is not supported (supported: {', '.join(parsing.SUPPORTED)})"}
        )
    with transaction.atomic():
        Folder.objects.select_for_update().filter(pk=folder.pk).first()  # one upload of a name at a time
        existing = File.objects.filter(folder=folder, file_name=original).defer("raw", "content").first()
        file_name = original
        if existing is not None:
            if duplicate_handling == "skip":
                return existing, False
            if duplicate_handling == "error":
                raise DuplicateFile(f"A file named {original!r} already exists in folder {folder.name!r}")
            if duplicate_handling == "replace":
                FileChunk.objects.filter(file=existing).delete()
                existing.delete()
            else:
                file_name = _suffixed(folder, original)
        try:
            file = File.objects.create(
                organization_id=folder.organization_id,
                folder=folder,
                file_name=file_name,
                original_file_name=original,
                file_type=mime if mime != "text/x-code" else (content_type or "text/plain"),
                file_size=len(data),
                raw=data,
            )
        except IntegrityError:
            raise DuplicateFile(f"A file named {file_name!r} already exists in folder {folder.name!r}") from None
        views_for_new_file(file=file)
        process_after_commit(file_id=file.id)
    file.raw = None  # the caller has the bytes; the row keeps them until they are parsed
    return file, True


def file_delete(*, file: File) -> list[uuid.UUID]:
    """Delete a file and its chunks; returns the agents that had it open (their context changes)."""
    with transaction.atomic():
        open_for = list(file.agent_views.filter(is_open=True).values_list("agent_id", flat=True))
        FileChunk.objects.filter(file=file).delete()
        file.delete()
    return open_for
