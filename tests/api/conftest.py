from typing import Any

import pytest

from accounts.selectors import organization_id_for
from agents.models import Agent, Message, Step
from agents.services.agents import agent_create
from agents.services.conversations import conversation_create
from agents.services.folders import agent_folder_attach
from agents.services.identities import identity_create
from agents.services.mcp import mcp_server_create_offline
from agents.services.tools import tool_create
from agents.tools.mcp.client import RemoteTool
from api.views.meta import provider_to_wire
from files.services.folders import folder_create
from files.services.processing import file_process
from files.services.uploads import file_upload
from lib.ids import parse_id, public_id
from memory.services.archives import archive_attach, archive_create
from memory.services.blocks import block_create
from memory.services.passages import passage_insert
from tests import factories
from tests.fakes.llm_server import FakeLLM

TOOL_SOURCE = '''
def shout(text: str) -> str:
    """Shout.

    Args:
        text: What to shout.
    """
    return text.upper()
'''


def world(user: Any, fake_llm: FakeLLM) -> dict[str, str]:
    """One object of every kind with an id on the wire, owned by `user`'s organization: {url param: public id}.
    The run is a real one, finished through the loop against the fake LLM; its message is the user's input."""
    blocks = [{"label": "human", "value": "x"}]
    agent = agent_create(actor=user, name=f"{user.username}-agent", model="openai/gpt-4o-mini", memory_blocks=blocks)
    block = block_create(actor=user, label="shared", value="v")
    tool = tool_create(actor=user, source_code=TOOL_SOURCE)
    fake_llm.reply("hello")
    run = factories.send(user, agent, "hi")
    step = Step.objects.get(run=run)
    passage = passage_insert(agent=agent, text="a fact")
    archive = archive_create(actor=user, name=f"{user.username}-archive")
    archive_attach(archive=archive, agent=agent)
    passage_insert(archive=archive, text="a shared fact")
    message = Message.objects.get(run=run, role="user")
    identity = identity_create(
        actor=user, identifier_key=f"{user.username}-user", name=user.username, identity_type="user"
    )
    # Stored without connecting (as an agent-file import does); no route below needs the server to answer.
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    server = mcp_server_create_offline(
        actor=user,
        name=f"{user.username}-mcp",
        config={"mcp_server_type": "streamable_http", "server_url": "http://127.0.0.1:9/mcp"},
        tools=[RemoteTool(f"{user.username}_echo", "Echo.", schema)],
    )
    folder = folder_create(organization_id=organization_id_for(user), name=f"{user.username}-folder")
    file, _ = file_upload(folder=folder, name="notes.md", data=b"# Notes\n\nA fact worth finding.\n")
    file_process(file_id=str(file.id))
    agent_folder_attach(agent=agent, folder=folder)
    return {
        "mcp_server_id": public_id("mcp_server", server.id),
        "mcp_tool_id": public_id("tool", server.tools.get().id),
        "agent_id": public_id("agent", agent.id),
        "folder_id": public_id("source", folder.id),
        "folder_name": folder.name,
        "file_id": public_id("file", file.id),
        "block_id": public_id("block", block.id),
        "tool_id": public_id("tool", tool.id),
        "run_id": public_id("run", run.id),
        "step_id": public_id("step", step.id),
        "passage_id": public_id("passage", passage.id),
        "message_id": public_id("message", message.id),
        "identity_id": public_id("identity", identity.id),
        "conversation_id": public_id("conv", conversation_create(actor=user, agent=agent, summary="a thread").id),
        "provider_id": provider_to_wire("openai")["id"],
        "archive_id": public_id("archive", archive.id),
        "block_label": "human",
        "tool_name": "conversation_search",
    }


@pytest.fixture
def alice_world(alice: Any, fake_llm: FakeLLM) -> dict[str, str]:
    return world(alice, fake_llm)


@pytest.fixture
def charlie_world(charlie: Any, fake_llm: FakeLLM) -> dict[str, str]:
    return world(charlie, fake_llm)


def agent_of(world: dict[str, str]) -> Agent:
    return Agent.objects.get(pk=parse_id("agent", world["agent_id"]))
