"""`folder_ids` (and the older `source_ids`) on agent create and update: the agent's folders, exactly; another
organization's folder is a 422 naming the field, and nothing is created."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Agent
from lib.ids import parse_id

pytestmark = pytest.mark.django_db
FILE_TOOLS = {"open_files", "grep_files", "semantic_search_files"}


def test_folder_ids_on_create_and_update(alice_api: APIClient, charlie_api: APIClient) -> None:
    one = alice_api.post("/v1/folders/", {"name": "one"}, format="json").json()["id"]
    two = alice_api.post("/v1/folders/", {"name": "two"}, format="json").json()["id"]
    theirs = charlie_api.post("/v1/folders/", {"name": "theirs"}, format="json").json()["id"]
    body = {"name": "a", "model": "openai/gpt-4o-mini", "memory_blocks": []}
    created = alice_api.post("/v1/agents/", {**body, "folder_ids": [one]}, format="json")
    assert created.status_code == 200, created.content
    state = created.json()
    assert [s["id"] for s in state["sources"]] == [one]
    assert {t["name"] for t in state["tools"]} >= FILE_TOOLS
    updated = alice_api.patch(f"/v1/agents/{state['id']}", {"source_ids": [two]}, format="json").json()
    assert [s["id"] for s in updated["sources"]] == [two]
    cleared = alice_api.patch(f"/v1/agents/{state['id']}", {"folder_ids": []}, format="json").json()
    assert cleared["sources"] == [] and not FILE_TOOLS & {t["name"] for t in cleared["tools"]}
    refused = alice_api.post("/v1/agents/", {**body, "name": "b", "folder_ids": [theirs]}, format="json")
    assert refused.status_code == 422 and "folder_ids" in refused.json()["detail"]
    assert not Agent.objects.filter(name="b").exists()
    patched = alice_api.patch(f"/v1/agents/{state['id']}", {"folder_ids": [theirs]}, format="json")
    assert patched.status_code == 422
    agent = Agent.objects.get(pk=parse_id("agent", state["id"]))
    assert not agent.folder_links.exists()


def test_a_teammate_sees_the_folders_on_the_agent(alice_api: APIClient, bob_api: APIClient) -> None:
    folder = alice_api.post("/v1/folders/", {"name": "shared"}, format="json").json()["id"]
    agent = alice_api.post(
        "/v1/agents/", {"name": "a", "model": "openai/gpt-4o-mini", "folder_ids": [folder]}, format="json"
    ).json()
    listed: Any = bob_api.get(f"/v1/agents/{agent['id']}/folders").json()
    assert [f["id"] for f in listed] == [folder]
