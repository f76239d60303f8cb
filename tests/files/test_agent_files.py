"""Agent files (.af) carry the agent's folders and files as Letta's format has them (`sources`, `files` with their
text, `source_ids`, `files_agents`); an import re-creates them in the importer's organization and processes the
files again."""

import io
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.selectors import organization_id_for
from agents.models import Agent
from agents.services.folders import agent_folder_attach
from files import search, windows
from files.models import File, FileAgent, Folder
from files.services.folders import folder_create
from files.services.processing import file_process
from files.services.uploads import file_upload
from lib.ids import parse_id, public_id
from tests.factories import make_agent
from tests.files.samples import make_pdf

pytestmark = pytest.mark.django_db


def test_folders_and_open_files_travel_in_an_agent_file(
    alice: Any, alice_api: APIClient, charlie: Any, charlie_api: APIClient
) -> None:
    agent = make_agent(alice, name="librarian")
    folder = folder_create(organization_id=organization_id_for(alice), name="library", instructions="Quote pages")
    pdf = make_pdf([["Chapter one."], ["The archivist hides the key under the third shelf."]])
    for name, data in (("book.pdf", pdf), ("todo.md", b"# Todo\n\n- dust the shelves\n")):
        file, _ = file_upload(folder=folder, name=name, data=data)
        file_process(file_id=str(file.id))
    agent_folder_attach(agent=agent, folder=folder)
    view = windows.view_by_name(agent_id=agent.id, organization_id=agent.organization_id, name="library/book.pdf")
    windows.file_open(view=view, offset=1, length=3)

    exported = alice_api.get(f"/v1/agents/{public_id('agent', agent.id)}/export")
    assert exported.status_code == 200
    data = json.loads(exported.content)
    assert [s["name"] for s in data["sources"]] == ["library"]
    assert data["sources"][0]["instructions"] == "Quote pages"
    assert {f["file_name"] for f in data["files"]} == {"book.pdf", "todo.md"}
    assert any("third shelf" in (f["content"] or "") for f in data["files"])
    entry = data["agents"][0]
    assert entry["source_ids"] == [data["sources"][0]["id"]]
    opened = [v for v in entry["files_agents"] if v["is_open"]]
    assert [v["file_name"] for v in opened] == ["book.pdf"] and "third shelf" in opened[0]["visible_content"]

    # Into another organization: a new folder, the files processed again from their text, book.pdf open again.
    response = charlie_api.post("/v1/agents/import", {"file": io.BytesIO(exported.content)}, format="multipart")
    assert response.status_code == 200, response.content
    new_agent = Agent.objects.get(pk=parse_id("agent", response.json()["agent_ids"][0]))
    new_folder = Folder.objects.get(organization_id=organization_id_for(charlie))
    assert new_folder.name == "library" and new_folder.id != folder.id
    for file in File.objects.filter(folder=new_folder):
        assert file_process(file_id=str(file.id)) == "completed"
    hits = search.semantic_search(
        agent_id=new_agent.id, organization_id=new_agent.organization_id, query="where is the key hidden?"
    )
    assert hits and "third shelf" in hits[0].chunk.text
    reopened = FileAgent.objects.get(agent_id=new_agent.id, is_open=True)
    assert reopened.file.file_name == "book.pdf" and "third shelf" in reopened.visible_content
    assert {"open_files", "grep_files"} <= set(new_agent.tools.values_list("name", flat=True))
    # Alice's rows are untouched and unseen by Charlie's agent.
    assert File.objects.filter(folder=folder).count() == 2

    # Importing twice in one organization: the folder name gets a suffix.
    again = charlie_api.post("/v1/agents/import", {"file": io.BytesIO(exported.content)}, format="multipart")
    assert again.status_code == 200
    assert set(Folder.objects.filter(organization_id=organization_id_for(charlie)).values_list("name", flat=True)) == {
        "library",
        "library_(1)",
    }


def test_a_file_naming_an_unknown_source_is_a_422_and_writes_nothing(alice_api: APIClient) -> None:
    document = {
        "agents": [{"id": "agent-0", "name": "x", "source_ids": ["source-9"]}],
        "sources": [{"id": "source-0", "name": "docs"}],
        "files": [{"id": "file-0", "source_id": "source-0", "file_name": "a.txt", "content": "hello"}],
    }
    response = alice_api.post(
        "/v1/agents/import", {"file": io.BytesIO(json.dumps(document).encode())}, format="multipart"
    )
    assert response.status_code == 422 and "agents[0].source_ids[0]" in response.json()["detail"]
    assert not Folder.objects.exists() and not File.objects.exists() and not Agent.objects.exists()
