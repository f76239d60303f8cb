"""Folders on agents: attaching one also attaches the file tools (open_files, grep_files, semantic_search_files),
and detaching the last one removes them, as Letta does. The files app keeps the folders and the agent's views."""

from django.db import transaction

from agents.models import Agent, AgentTool
from agents.services.tools import builtin_tools_ensure
from agents.tools.files import FILE_TOOLS
from files.models import AgentFolder, Folder
from files.services.folders import folder_attach, folder_detach


@transaction.atomic
def agent_folder_attach(*, agent: Agent, folder: Folder) -> Agent:
    """Raises ValueError for a folder of another organization (callers reach folders through selectors)."""
    folder_attach(agent_id=agent.id, organization_id=agent.organization_id, folder=folder)
    tools = builtin_tools_ensure()
    have = set(AgentTool.objects.filter(agent=agent).values_list("tool_id", flat=True))
    AgentTool.objects.bulk_create(
        [AgentTool(agent=agent, tool=tools[name]) for name in FILE_TOOLS if tools[name].pk not in have]
    )
    return agent


@transaction.atomic
def agent_folder_detach(*, agent: Agent, folder: Folder) -> Agent:
    folder_detach(agent_id=agent.id, folder=folder)
    if not AgentFolder.objects.filter(agent_id=agent.id).exists():
        AgentTool.objects.filter(agent=agent, tool__organization=None, tool__name__in=FILE_TOOLS).delete()
    return agent


def agent_folders_set(*, agent: Agent, folders: list[Folder]) -> None:
    """Make `folders` exactly the agent's folders (create/update with folder_ids)."""
    wanted = {f.id for f in folders}
    for link in AgentFolder.objects.filter(agent_id=agent.id).exclude(folder_id__in=wanted).select_related("folder"):
        agent_folder_detach(agent=agent, folder=link.folder)
    for folder in folders:
        agent_folder_attach(agent=agent, folder=folder)
