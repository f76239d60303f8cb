"""An agent's secrets, decrypted: read by the tool executor (and the ADE's secrets form), never by selectors."""

from agents.models import Agent, AgentSecret
from lib.crypto import decrypt


def agent_secrets(*, agent: Agent) -> dict[str, str]:
    """The agent's secrets, decrypted: the environment its custom tools run with."""
    rows = AgentSecret.objects.filter(agent=agent).order_by("key").values_list("key", "value_encrypted")
    return {key: decrypt(token) for key, token in rows}
