"""The Files panel (htmx views): folders, uploads, status and error reasons, preview, what is open, and an
outsider's 404 on every view."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.selectors import organization_id_for
from agents.models import Agent
from files import windows
from files.models import File, FileChunk, Folder
from files.services.folders import folder_create
from files.services.processing import file_process
from tests.files.samples import CORRUPT_PDF

pytestmark = pytest.mark.django_db


def test_a_person_creates_a_folder_uploads_and_sees_status_errors_and_what_is_open(
    alice_client: Client, agent: Agent
) -> None:
    base = f"/agents/{agent.id}/files/"
    page = alice_client.get(base)
    assert page.status_code == 200 and "No folders attached" in page.content.decode()
    created = alice_client.post(
        base + "folders/new/", {"name": "papers", "instructions": "Cite pages"}, HTTP_HX_REQUEST="true"
    )
    assert created.status_code == 200 and "papers" in created.content.decode()
    folder = Folder.objects.get(name="papers")
    assert {"open_files", "grep_files"} <= set(agent.tools.values_list("name", flat=True))
    upload = base + f"folders/{folder.id}/upload/"
    good = alice_client.post(upload, {"file": SimpleUploadedFile("notes.md", b"# Notes\n\nThe tide turns at noon.\n")})
    assert good.status_code == 200 and good.json()["status"] == "pending"
    bad = alice_client.post(upload, {"file": SimpleUploadedFile("broken.pdf", CORRUPT_PDF)})
    empty = alice_client.post(upload, {"file": SimpleUploadedFile("empty.txt", b"")})
    assert empty.status_code == 422 and "empty" in empty.json()["error"]
    listing = alice_client.get(base + "list/").content.decode()
    assert "every 1s" in listing and "pending" in listing  # it polls while files are processed
    for row in File.objects.all():
        file_process(file_id=str(row.id))
    listing = alice_client.get(base + "list/").content.decode()
    assert "every 1s" not in listing
    assert "completed" in listing and "the PDF cannot be read" in listing
    notes = File.objects.get(file_name="notes.md")
    preview = alice_client.get(base + f"{notes.id}/preview/").content.decode()
    assert "The tide turns at noon." in preview
    view = windows.view_by_name(agent_id=agent.id, organization_id=agent.organization_id, name="notes.md")
    windows.file_open(view=view, offset=2, length=2)
    assert "open, lines 2–3" in alice_client.get(base + "list/").content.decode()
    closed = alice_client.post(base + f"{notes.id}/close/", HTTP_HX_REQUEST="true").content.decode()
    assert "open, lines" not in closed
    deleted = alice_client.post(base + f"{notes.id}/delete/", HTTP_HX_REQUEST="true")
    assert deleted.status_code == 200 and not FileChunk.objects.filter(file_id=notes.id).exists()
    detached = alice_client.post(base + f"folders/{folder.id}/detach/", HTTP_HX_REQUEST="true").content.decode()
    assert "No folders attached" in detached and "Attach folder" in detached
    assert bad.status_code == 200


def test_an_outsider_gets_404_on_every_files_view(alice: Any, charlie_client: Client, agent: Agent) -> None:
    folder = folder_create(organization_id=organization_id_for(alice), name="private")
    file = File.objects.create(
        organization_id=folder.organization_id, folder=folder, file_name="a.txt", original_file_name="a.txt"
    )
    base = f"/agents/{agent.id}/files/"
    for url in (base, base + "list/", base + f"{file.id}/preview/"):
        assert charlie_client.get(url).status_code == 404, url
    for url in (
        base + "folders/new/",
        base + "folders/attach/",
        base + f"folders/{folder.id}/detach/",
        base + f"folders/{folder.id}/upload/",
        base + f"{file.id}/close/",
        base + f"{file.id}/delete/",
    ):
        assert charlie_client.post(url, {"name": "x", "folder": str(folder.id)}).status_code == 404, url
    assert File.objects.filter(pk=file.pk).exists()


def test_a_new_folder_may_use_the_fast_static_embedding_model(alice_client: Client, agent: Agent) -> None:
    base = f"/agents/{agent.id}/files/"
    page = alice_client.get(base).content.decode()
    assert '<option value="local/wordllama-l2-256">local/wordllama-l2-256 (256 dimensions)</option>' in page
    created = alice_client.post(
        base + "folders/new/", {"name": "scans", "embedding": "local/wordllama-l2-256"}, HTTP_HX_REQUEST="true"
    )
    assert "Embedding model: <code>local/wordllama-l2-256</code>" in created.content.decode()
    assert Folder.objects.get(name="scans").embedding == "local/wordllama-l2-256"
    plain = alice_client.post(base + "folders/new/", {"name": "notes", "embedding": ""}, HTTP_HX_REQUEST="true")
    assert plain.status_code == 200 and Folder.objects.get(name="notes").embedding == "local/all-minilm-l6-v2-int8"
    odd = alice_client.post(base + "folders/new/", {"name": "odd", "embedding": "local/nope"}, HTTP_HX_REQUEST="true")
    assert "choose one of the offered models" in odd.content.decode()
    assert not Folder.objects.filter(name="odd").exists()
