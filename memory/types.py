import uuid
from typing import Protocol


class AgentLike(Protocol):
    """What memory needs to know about an agent. memory never imports agents; callers pass an Agent."""

    id: uuid.UUID
    organization_id: uuid.UUID
    embedding: str
