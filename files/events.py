"""File processing events for open ADE sockets: each status change and embedding batch of a file is sent to the
groups of the agents its folder is attached to (`agent.<uuid>`, as agents.runtime.events names them), as
`agent.files`; the Files panel re-fetches its list on each. The channel layer drops events by design, so the panel
also polls while a file is processing."""

import logging
import uuid
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync

from files.models import AgentFolder

logger = logging.getLogger(__name__)


class FileStatusEvent(TypedDict):
    type: Literal["agent.files"]
    file_id: str
    status: str
    chunks_embedded: int | None
    total_chunks: int | None


def publish_file_status(
    *, file_id: uuid.UUID, folder_id: uuid.UUID, status: str, done: int | None = None, total: int | None = None
) -> None:
    """Send now (callers are background jobs, outside transactions). Never raises."""
    try:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        event: FileStatusEvent = {
            "type": "agent.files",
            "file_id": str(file_id),
            "status": status,
            "chunks_embedded": done,
            "total_chunks": total,
        }
        for agent_id in AgentFolder.objects.filter(folder_id=folder_id).values_list("agent_id", flat=True):
            async_to_sync(layer.group_send)(f"agent.{agent_id}", event)
    except Exception:  # the layer drops events by design; never let that break processing
        logger.warning("could not publish the status of file %s", file_id, exc_info=True)
