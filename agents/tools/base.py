"""What every built-in tool shares: the context it runs in, the error the model reads, argument readers."""

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

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


def arg_str(args: JSON, key: str, *, required: bool = True, default: str = "") -> str:
    if key not in args or args[key] is None:
        if required:
            raise ToolError(f"missing required argument '{key}'")
        return default
    value = args[key]
    if not isinstance(value, str):
        raise ToolError(f"argument '{key}' must be a string")
    return value


def arg_int(args: JSON, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = args.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolError(f"argument '{key}' must be an integer")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        raise ToolError(f"argument '{key}' must be between {minimum} and {maximum}")
    return value


def arg_str_list(args: JSON, key: str) -> list[str] | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ToolError(f"argument '{key}' must be a list of strings")
    return value


def arg_datetime(args: JSON, key: str, *, end_of_day: bool = False) -> dt.datetime | None:
    raw = args.get(key)
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise ToolError(f"argument '{key}' must be an ISO 8601 date or datetime string")
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            value = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
        else:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ToolError(f"argument '{key}' is not a valid date: {raw!r}") from None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value
