"""A cap on each organization's custom-tool processes started by the tool-run routes (outside runs), per server
process: `ENGRAM_ORG_MAX_TOOL_PROCESSES`. Inside runs, the cap on runs in flight (ENGRAM_ORG_MAX_ACTIVE_RUNS)
already bounds them.

A call over the cap fails at once (the API answers 429 with Retry-After) instead of waiting: a waiting call would
hold one of the server's request threads, which every organization shares. The count lives in this process only,
so with several server processes an organization may run up to that many times the cap."""

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

_lock = threading.Lock()
_running: dict[uuid.UUID, int] = {}


class ToolProcessesBusy(Exception):
    """The organization already runs its share of tool processes here; try again when one ends."""


@contextmanager
def organization_tool_slot(organization_id: uuid.UUID) -> Iterator[None]:
    """Hold one of the organization's tool-process slots for the block, or raise ToolProcessesBusy."""
    limit = settings.ENGRAM_ORG_MAX_TOOL_PROCESSES
    with _lock:
        if _running.get(organization_id, 0) >= limit:
            raise ToolProcessesBusy(
                f"this organization already runs {limit} tool process(es) at once (ENGRAM_ORG_MAX_TOOL_PROCESSES); "
                "retry when one ends"
            )
        _running[organization_id] = _running.get(organization_id, 0) + 1
    try:
        yield
    finally:
        with _lock:
            left = _running[organization_id] - 1
            if left:
                _running[organization_id] = left
            else:
                del _running[organization_id]
