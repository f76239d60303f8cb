"""Uploads and processing through the API: every supported kind of file ends `completed` and searchable; bad
files end in `error` with a readable reason (or a 4xx before anything is stored), with nothing indexed; deleting
a file or folder removes its chunks."""

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.services.folders import agent_folder_attach
from files import search
from files.models import File, FileChunk, Folder
from files.services.processing import file_process
from lib.ids import parse_id
from tests.factories import make_agent
from tests.files.samples import BINARY_AS_TEXT, CORRUPT_PDF, make_docx, make_docx_bomb, make_pdf

pytestmark = pytest.mark.django_db


def new_folder(client: APIClient, name: str = "docs") -> str:
    response = client.post("/v1/folders/", {"name": name, "instructions": "Read me"}, format="json")
    assert response.status_code == 200, response.content
    return str(response.json()["id"])


def upload(client: APIClient, folder_id: str, file_name: str, data: bytes, **query: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return client.post(
        f"/v1/folders/{folder_id}/upload" + (f"?{qs}" if qs else ""),
        {"file": SimpleUploadedFile(file_name, data)},
        format="multipart",
    )


def processed(client: APIClient, folder_id: str, response: Any) -> dict[str, Any]:
    """Run the file's processing here (the background worker's job) and answer its API object."""
    assert response.status_code == 200, response.content
    file_id = response.json()["id"]
    assert response.json()["processing_status"] == "pending"
    file_process(file_id=str(parse_id("file", file_id)))
    got = client.get(f"/v1/folders/{folder_id}/files/{file_id}")
    assert got.status_code == 200
    return dict(got.json())


GOOD = {
    "notes.txt": b"Plain notes.\n\nThe harbour master is named Ingrid Solberg.\n",
    "guide.md": b"# Guide\n\n## Boats\n\nThe harbour master is named Ingrid Solberg.\n\n```py\nprint('hi')\n```\n",
    "table.csv": b"name,role\nIngrid Solberg,harbour master\nOle,fisher\n",
    "data.json": json.dumps({"harbour_master": "Ingrid Solberg"}).encode(),
    "page.html": b"<html><script>evil()</script><body><h1>Port</h1><p>The harbour master is Ingrid Solberg.</p></body>",
    "script.py": b"def master():\n    return 'Ingrid Solberg'  # the harbour master\n",
    "report.pdf": make_pdf([["Annual report", "Nothing to see."], ["The harbour master is named Ingrid Solberg."]]),
    "memo.docx": make_docx([("Heading1", "Memo"), ("", "The harbour master is named Ingrid Solberg.")]),
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_it_parses_chunks_and_indexes_each_kind_of_file(alice_api: APIClient, alice: Any, name: str) -> None:
    folder_id = new_folder(alice_api)
    file = processed(alice_api, folder_id, upload(alice_api, folder_id, name, GOOD[name]))
    assert file["processing_status"] == "completed", file
    assert file["error_message"] is None
    assert file["total_chunks"] >= 1 and file["chunks_embedded"] == file["total_chunks"]
    chunks = FileChunk.objects.filter(file_id=parse_id("file", file["id"]))
    assert chunks.count() == file["total_chunks"]
    assert all(c.embedding_dim == 384 and c.embedding_model for c in chunks)
    assert "evil" not in "".join(c.text for c in chunks)
    agent = make_agent(alice)
    agent_folder_attach(agent=agent, folder=Folder.objects.get(pk=parse_id("source", folder_id)))
    hits = search.semantic_search(
        agent_id=agent.id, organization_id=agent.organization_id, query="who is the harbour master?"
    )
    assert hits and "Solberg" in hits[0].chunk.text
    found = search.grep(agent_id=agent.id, organization_id=agent.organization_id, pattern=r"Ingrid\s+Solberg")
    assert found.total >= 1 and found.matches[0].file_name == f"docs/{name}"


BAD = {
    "broken.pdf": (CORRUPT_PDF, "the PDF cannot be read"),
    "fake.pdf": (b"just some text pretending", "not a PDF"),
    "binary.txt": (BINARY_AS_TEXT, "not text"),
    "bomb.docx": (None, "expands to"),
    "notzip.docx": (b"PK\x03\x04 but nothing else", "not a DOCX document"),
    "dtd.docx": (
        make_docx([], document_xml=b'<!DOCTYPE d [<!ENTITY a "aaaa">]><w:document>&a;</w:document>'),
        "declares a DTD",
    ),
    "blank.pdf": (make_pdf([[]]), "no text could be extracted"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_file_ends_in_error_with_its_reason_and_nothing_indexed(alice_api: APIClient, name: str) -> None:
    data, reason = BAD[name]
    if data is None:
        data = make_docx_bomb(100 * 1024 * 1024)
    folder_id = new_folder(alice_api)
    file = processed(alice_api, folder_id, upload(alice_api, folder_id, name, data))
    assert file["processing_status"] == "error"
    assert reason in file["error_message"] and name in file["error_message"]
    assert not FileChunk.objects.filter(file_id=parse_id("file", file["id"])).exists()
    row = File.objects.get(pk=parse_id("file", file["id"]))
    assert row.raw is None and row.content == ""
    # The server goes on: a good file after it is processed.
    ok = processed(alice_api, folder_id, upload(alice_api, folder_id, "ok.txt", b"fine"))
    assert ok["processing_status"] == "completed"


def test_an_empty_or_unsupported_or_oversize_upload_is_refused_before_anything_is_stored(
    alice_api: APIClient, settings: Any
) -> None:
    folder_id = new_folder(alice_api)
    empty = upload(alice_api, folder_id, "empty.txt", b"")
    assert empty.status_code == 422 and "empty.txt is empty" in empty.json()["detail"]
    exe = upload(alice_api, folder_id, "tool.exe", b"MZ\x90\x00")
    assert exe.status_code == 422 and "not supported" in exe.json()["detail"]
    settings.ENGRAM_FILE_MAX_BYTES = 1000
    big = upload(alice_api, folder_id, "big.txt", b"x" * 1001)
    assert big.status_code == 413 and "at most 1,000 bytes" in big.json()["detail"]
    missing = alice_api.post(f"/v1/folders/{folder_id}/upload", {}, format="multipart")
    assert missing.status_code == 422 and "file" in missing.json()["detail"]
    bad_mode = upload(alice_api, folder_id, "a.txt", b"a", duplicate_handling="explode")
    assert bad_mode.status_code == 422 and "duplicate_handling" in bad_mode.json()["detail"]
    assert not File.objects.exists()


def test_duplicate_handling_follows_letta(alice_api: APIClient) -> None:
    folder_id = new_folder(alice_api)
    first = upload(alice_api, folder_id, "a.txt", b"one").json()
    suffixed = upload(alice_api, folder_id, "a.txt", b"two").json()
    assert suffixed["file_name"] == "a_(1).txt" and suffixed["original_file_name"] == "a.txt"
    assert upload(alice_api, folder_id, "a.txt", b"three", duplicate_handling="skip").json()["id"] == first["id"]
    conflict = upload(alice_api, folder_id, "a.txt", b"four", duplicate_handling="error")
    assert conflict.status_code == 409 and conflict["x-should-retry"] == "false"
    replaced = upload(alice_api, folder_id, "a.txt", b"five", duplicate_handling="replace").json()
    assert replaced["id"] != first["id"] and replaced["file_name"] == "a.txt"
    assert not File.objects.filter(pk=parse_id("file", first["id"])).exists()
    named = upload(alice_api, folder_id, "a.txt", b"six", name="renamed.txt").json()
    assert named["file_name"] == "renamed.txt"


def test_deleting_a_file_or_a_folder_removes_its_chunks(alice_api: APIClient) -> None:
    folder_id = new_folder(alice_api)
    one = processed(alice_api, folder_id, upload(alice_api, folder_id, "one.txt", b"first file\n\nmore"))
    two = processed(alice_api, folder_id, upload(alice_api, folder_id, "two.txt", b"second file"))
    assert FileChunk.objects.count() == one["total_chunks"] + two["total_chunks"]
    assert alice_api.delete(f"/v1/folders/{folder_id}/{one['id']}").status_code == 204
    assert FileChunk.objects.count() == two["total_chunks"]
    assert alice_api.get(f"/v1/folders/{folder_id}/files/{one['id']}").status_code == 404
    assert alice_api.delete(f"/v1/folders/{folder_id}").status_code == 200
    assert not FileChunk.objects.exists() and not File.objects.exists()


def test_a_file_deleted_while_processing_leaves_nothing(alice_api: APIClient) -> None:
    folder_id = new_folder(alice_api)
    response = upload(alice_api, folder_id, "gone.txt", b"soon gone")
    file_id = parse_id("file", response.json()["id"])
    File.objects.filter(pk=file_id).delete()
    assert file_process(file_id=str(file_id)) == ""
    assert not FileChunk.objects.exists()


def test_folder_names_are_unique_per_organization(alice_api: APIClient, charlie_api: APIClient) -> None:
    new_folder(alice_api, "shared-name")
    again = alice_api.post("/v1/folders/", {"name": "shared-name"}, format="json")
    assert again.status_code == 409
    assert charlie_api.post("/v1/folders/", {"name": "shared-name"}, format="json").status_code == 200
    bad = alice_api.post("/v1/folders/", {"name": "x", "embedding_chunk_size": 5}, format="json")
    assert bad.status_code == 422 and "embedding_chunk_size" in bad.json()["detail"]


def test_a_file_whose_worker_was_lost_is_processed_again(alice_api: APIClient) -> None:
    import datetime as dt

    from django.utils import timezone

    from files.services.processing import files_resume_stale

    folder_id = new_folder(alice_api)
    lost = upload(alice_api, folder_id, "lost.txt", b"A worker died while this was parsed.").json()
    fresh = upload(alice_api, folder_id, "fresh.txt", b"Still being parsed right now.").json()
    lost_id, fresh_id = parse_id("file", lost["id"]), parse_id("file", fresh["id"])
    # Written by hand: a worker that claimed the files and died (the lost one long ago, the fresh one just now).
    File.objects.filter(pk=lost_id).update(status="parsing", updated_at=timezone.now() - dt.timedelta(hours=1))
    File.objects.filter(pk=fresh_id).update(status="parsing", updated_at=timezone.now())
    assert files_resume_stale() == 1
    assert File.objects.get(pk=lost_id).status == "pending"
    assert File.objects.get(pk=fresh_id).status == "parsing"
    assert file_process(file_id=str(lost_id)) == "completed"
    assert files_resume_stale() == 0
