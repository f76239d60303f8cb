"""Processing a file sends its status and progress to the groups of the agents its folder is attached to (what the
ADE's Files panel listens to), and to no other agent's."""

import asyncio
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from accounts.selectors import organization_id_for
from agents.services.folders import agent_folder_attach
from files.services.folders import folder_create
from files.services.processing import file_process
from files.services.uploads import file_upload
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


async def _drain(layer: Any, channel: str) -> list[dict[str, Any]]:
    events = []
    while True:
        try:
            events.append(await asyncio.wait_for(layer.receive(channel), timeout=0.2))
        except TimeoutError:
            return events


def test_file_progress_reaches_the_attached_agents_only(alice: Any) -> None:
    layer = get_channel_layer()
    reader, other = make_agent(alice), make_agent(alice, name="other")
    folder = folder_create(organization_id=organization_id_for(alice), name="docs")
    agent_folder_attach(agent=reader, folder=folder)
    mine, theirs = async_to_sync(layer.new_channel)(), async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"agent.{reader.id}", mine)
    async_to_sync(layer.group_add)(f"agent.{other.id}", theirs)
    text = "\n\n".join(f"Paragraph {n} about tides and harbours." for n in range(300))
    file, _ = file_upload(folder=folder, name="long.md", data=text.encode())
    assert file_process(file_id=str(file.id)) == "completed"
    events = async_to_sync(_drain)(layer, mine)
    statuses = [(e["status"], e["chunks_embedded"]) for e in events]
    assert all(e["type"] == "agent.files" and e["file_id"] == str(file.id) for e in events)
    assert statuses[0] == ("embedding", 0) and statuses[-1][0] == "completed"
    assert len(statuses) >= 3  # at least one batch in between
    broken, _ = file_upload(folder=folder, name="broken.pdf", data=b"%PDF-1.4 nothing")
    file_process(file_id=str(broken.id))
    assert [e["status"] for e in async_to_sync(_drain)(layer, mine)] == ["error"]
    assert async_to_sync(_drain)(layer, theirs) == []
