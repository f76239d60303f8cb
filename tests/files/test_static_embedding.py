"""A folder created through the API with the opt-in static model (local/wordllama-l2-256) ingests uploads to
`completed` with 256-dim chunks (their own HNSW index on PostgreSQL), and semantic_search_files finds a fact by
meaning in vector mode; another organization does not see the folder. An agent file carries the model of the agent
and of its folder."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from agents.services.folders import agent_folder_attach
from files import search
from files.models import FileChunk, Folder
from files.services.processing import file_process
from lib.ids import parse_id
from memory.ddl import vector_index_name
from memory.embeddings import LOCAL_WORDLLAMA
from tests.factories import make_agent
from tests.files.samples import make_pdf

pytestmark = pytest.mark.django_db

FILES = {
    "report.pdf": make_pdf([["Annual report"], ["The harbour master is named Ingrid Solberg."]]),
    "menu.txt": b"Lunch menu.\n\nThe cafeteria serves vegetable soup and fresh bread on Fridays.\n",
    "finance.md": b"# Finance\n\nQuarterly revenue grew in every region; the auditors signed the accounts.\n",
}


def test_a_folder_on_the_static_model_ingests_and_is_searched_by_meaning(
    alice_api: APIClient, alice: Any, charlie_api: APIClient, monkeypatch: Any
) -> None:
    from memory import ddl

    # ensure_vector_index remembers which indexes exist per process; one an earlier test created was rolled back
    # with its transaction, so start from an empty memory: the check goes to pg_indexes.
    monkeypatch.setattr(ddl, "_known_vector_indexes", set())
    created = alice_api.post("/v1/folders/", {"name": "big-docs", "embedding": LOCAL_WORDLLAMA}, format="json")
    assert created.status_code == 200, created.content
    folder_id = created.json()["id"]
    config = created.json()["embedding_config"]
    assert (config["handle"], config["embedding_dim"], config["embedding_endpoint_type"]) == (
        LOCAL_WORDLLAMA,
        256,
        "hugging-face",
    )
    for name, data in FILES.items():
        sent = alice_api.post(
            f"/v1/folders/{folder_id}/upload", {"file": SimpleUploadedFile(name, data)}, format="multipart"
        )
        assert sent.status_code == 200, sent.content
        file_process(file_id=str(parse_id("file", sent.json()["id"])))  # the file worker's job, run here
        file = alice_api.get(f"/v1/folders/{folder_id}/files/{sent.json()['id']}").json()
        assert file["processing_status"] == "completed", file
        assert file["chunks_embedded"] == file["total_chunks"] >= 1

    folder = Folder.objects.get(pk=parse_id("source", folder_id))
    chunks = FileChunk.objects.filter(folder=folder)
    assert {(c.embedding_model, c.embedding_dim) for c in chunks} == {(LOCAL_WORDLLAMA, 256)}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [vector_index_name("files_filechunk", 256)])
            assert cursor.fetchone() is not None

    agent = make_agent(alice)
    agent_folder_attach(agent=agent, folder=folder)
    # No word of the question is in the fact (text search finds nothing): only the vectors can find it.
    question = "who is in charge of the port?"
    where = {"agent_id": agent.id, "organization_id": agent.organization_id}
    assert search.semantic_search(**where, query=question, mode="text") == []
    hits = search.semantic_search(**where, query=question, mode="vector")
    assert hits[0].file_name == "big-docs/report.pdf" and "Ingrid Solberg" in hits[0].chunk.text
    food = search.semantic_search(**where, query="what can I eat at noon?", mode="vector")
    assert food[0].file_name == "big-docs/menu.txt"
    assert charlie_api.get(f"/v1/folders/{folder_id}").status_code == 404


def test_an_agent_file_keeps_the_static_model_of_the_agent_and_its_folder(
    alice: Any, charlie: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from api.agent_files import agent_export, agent_import
    from files.services.folders import folder_create
    from memory.models import Passage
    from memory.services.passages import passage_insert

    agent = make_agent(alice, name="exported", embedding=LOCAL_WORDLLAMA)
    passage_insert(agent=agent, text="The lighthouse keeper retires next spring")
    folder = folder_create(organization_id=agent.organization_id, name="scans", embedding=LOCAL_WORDLLAMA)
    agent_folder_attach(agent=agent, folder=folder)
    document = agent_export(agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        [copy] = agent_import(actor=charlie, data=document)  # another organization: new rows, same models
    assert copy.embedding == LOCAL_WORDLLAMA and copy.organization_id != agent.organization_id
    assert Folder.objects.get(organization_id=copy.organization_id, name="scans").embedding == LOCAL_WORDLLAMA
    passage = Passage.objects.get(agent=copy)
    assert (passage.embedding_model, passage.embedding_dim) == (LOCAL_WORDLLAMA, 256)
