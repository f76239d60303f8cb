"""What every built-in tool module shares: the tool context, the error a model reads, the schema shape."""

import uuid
from dataclasses import dataclass
from typing import Any

from agents.models import Agent

JSON = dict[str, Any]


class ToolError(Exception):
    """A tool failure the model should read (returned to it as the tool result)."""


@dataclass(frozen=True)
class ToolContext:
    agent: Agent
    run_id: uuid.UUID | None
    step_id: uuid.UUID | None


def schema(name: str, description: str, properties: JSON, required: list[str]) -> JSON:
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }
