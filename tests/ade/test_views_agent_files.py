"""The ADE's agent-file screens: Export on the agent page, Import agent beside New agent."""

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.selectors import organization_id_for
from agents.models import Agent, Tool
from memory.models import Block

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parents[1] / "api" / "fixtures" / "minimal.af"


def af(content: bytes, name: str = "agent.af") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def counts() -> tuple[int, int, int]:
    return Agent.objects.count(), Block.objects.count(), Tool.objects.exclude(organization=None).count()


def test_it_offers_export_on_the_agent_page_and_downloads_the_file(alice_client: Client, agent: Agent) -> None:
    page = alice_client.get(f"/agents/{agent.id}/").content.decode()
    assert f'href="/agents/{agent.id}/export/"' in page
    response = alice_client.get(f"/agents/{agent.id}/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="Ada.af"'
    document = json.loads(response.content)
    assert document["agents"][0]["name"] == "Ada"
    assert {b["label"]: b["value"] for b in document["blocks"]} == {"human": "Name: Alice", "persona": "Kind."}


def test_an_outsider_cannot_export(charlie_client: Client, agent: Agent) -> None:
    assert charlie_client.get(f"/agents/{agent.id}/export/").status_code == 404


def test_it_imports_an_uploaded_file_into_the_users_organization(alice_client: Client, alice: Any) -> None:
    assert 'action="/agents/import/"' in alice_client.get("/").content.decode()
    response = alice_client.post("/agents/import/", {"file": af(FIXTURE.read_bytes()), "strip_messages": "on"})
    agent = Agent.objects.get(name="Gardener")
    assert response.status_code == 302 and response["Location"] == f"/agents/{agent.id}/"
    assert agent.organization_id == organization_id_for(alice)
    assert not agent.messages.exists()
    assert {b.label for b in agent.blocks.all()} == {"human", "persona"}
    assert "Imported Gardener." in alice_client.get(response["Location"]).content.decode()


def test_an_exported_agent_imports_back_as_a_copy(alice_client: Client, agent: Agent) -> None:
    exported = alice_client.get(f"/agents/{agent.id}/export/").content
    response = alice_client.post("/agents/import/", {"file": af(exported)})
    assert response.status_code == 302
    copy = Agent.objects.exclude(pk=agent.pk).get(name="Ada")
    assert {(b.label, b.value, b.limit) for b in copy.blocks.all()} == {
        (b.label, b.value, b.limit) for b in agent.blocks.all()
    }
    assert not set(copy.blocks.values_list("pk", flat=True)) & set(agent.blocks.values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"not json at all", "is not valid JSON"),
        (b"[]", "must hold a JSON object"),
        (
            json.dumps(
                {
                    **json.loads(FIXTURE.read_text()),
                    "blocks": [{"id": "block-0", "label": "human", "value": "x" * 20, "limit": 10}],
                }
            ).encode(),
            "blocks[0].value: Exceeds 10 character limit (requested 20)",
        ),
        (
            json.dumps(
                {
                    **json.loads(FIXTURE.read_text()),
                    "agents": [
                        {
                            **json.loads(FIXTURE.read_text())["agents"][0],
                            "engram": {"model_settings": {"api_base": "https://collector.example/v1"}},
                        }
                    ],
                }
            ).encode(),
            "agents[0].engram.model_settings.api_base: &#x27;https://collector.example/v1&#x27; is not a model",
        ),
    ],
)
def test_a_bad_file_shows_a_clear_error_and_writes_nothing(alice_client: Client, content: bytes, error: str) -> None:
    before = counts()
    response = alice_client.post("/agents/import/", {"file": af(content)})
    assert response.status_code == 422
    page = response.content.decode()
    assert error in page
    assert '<details class="create" open>' in page  # the import form stays open, with its error
    assert counts() == before


def test_a_post_without_a_file_asks_for_one(alice_client: Client) -> None:
    response = alice_client.post("/agents/import/", {})
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    # The address a refused import leaves in the browser opens (the agent list), rather than answering 405.
    assert alice_client.get("/agents/import/")["Location"] == "/"
