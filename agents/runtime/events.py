"""The one publisher of channel-layer events. Groups are per agent (`agent.<uuid>`); run status changes also go
to the agent's organization (`organization.<uuid>`, the ADE dashboard's live list of active runs). The `type` of
each event is the consumer's handler name (`agent.message` → `agent_message`).

Events are notifications, not storage: everything persisted is published after its transaction commits, and a
client that reconnects re-fetches over HTTP. Token deltas are not persisted and go out immediately."""

import asyncio
import logging
import threading
import time
import uuid
from typing import Any, Literal, TypedDict

from django.db import transaction

from agents.models import Message, Run, Step
from lib import metrics
from lib.background import Batcher, Worker
from lib.ids import public_id, public_id_or_none

logger = logging.getLogger(__name__)


class MessagePayload(TypedDict):
    id: str
    seq: int | None
    role: str
    text: str
    reasoning: str
    tool_calls: list[dict[str, Any]]
    tool_call_id: str
    name: str
    is_err: bool
    run_id: str | None
    step_id: str | None
    created_at: str


class MessageEvent(TypedDict):
    type: Literal["agent.message"]
    agent_id: str
    message: MessagePayload


class TokenEvent(TypedDict):
    type: Literal["agent.token"]
    agent_id: str
    run_id: str
    step_index: int
    kind: Literal["content", "reasoning", "tool_name", "tool_call"]
    delta: str
    offset: int  # where the delta starts in the step's text of this kind: a reader tells a dropped delta by it


class StepEvent(TypedDict):
    type: Literal["agent.step"]
    agent_id: str
    run_id: str
    step_id: str
    index: int
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    error: str


class RunStatusEvent(TypedDict):
    type: Literal["agent.run_status"]
    agent_id: str
    run_id: str
    status: str
    stop_reason: str


class BlockEvent(TypedDict):
    type: Literal["agent.block"]
    agent_id: str
    block_id: str
    label: str
    value: str
    limit: int
    revision_id: str | None


class CompactionEvent(TypedDict):
    type: Literal["agent.compaction"]
    agent_id: str
    run_id: str | None
    evicted: int
    tokens_before: int
    tokens_after: int
    summary: str


Event = MessageEvent | TokenEvent | StepEvent | RunStatusEvent | BlockEvent | CompactionEvent


def group_name(agent_id: uuid.UUID | str) -> str:
    return f"agent.{agent_id}"


def organization_group(organization_id: uuid.UUID | str) -> str:
    return f"organization.{organization_id}"


_local = threading.local()
SEND_TIMEOUT = 2.0  # one event's send; past it the layer counts as away (Redis restarting)
AWAY_SECONDS = 1.0  # while the layer is away, events are not tried for this long after a failure


def _deliver(batch: list[tuple[str, Event]]) -> None:
    """On the publisher's thread: a persistent event loop (async_to_sync would start a thread and a loop per
    event), so channels-redis keeps its connections (it pools them per event loop). The events that gathered
    while the last batch was sent go out together: the production layer (lib.channel_layer) reads which of their
    groups have members in one round trip. While the layer is away the events are counted, not queued behind one
    another's timeouts; the first batch sent after that reconnects."""
    from channels.layers import get_channel_layer

    if getattr(_local, "loop", None) is None:
        _local.loop = asyncio.new_event_loop()
        _local.away_until = 0.0
    try:
        if time.monotonic() < _local.away_until:
            raise ConnectionError("the channel layer failed less than a second ago")
        layer = get_channel_layer()
        if layer is not None:
            timeout = SEND_TIMEOUT + 0.1 * (len(batch) - 1)
            _local.loop.run_until_complete(asyncio.wait_for(_send_batch(layer, batch), timeout))
    except Exception:  # the layer drops events by design (and Redis may be restarting); never let that break a run
        # Not silent: counted and logged. What the event announced is stored (every event but token deltas), and
        # clients re-read it: the /v1 stream polls the database, the ADE re-fetches after its socket reconnects.
        for _, event in batch:
            metrics.EVENTS_UNSENT.labels(event["type"]).inc()
        if time.monotonic() >= _local.away_until:
            logger.warning("could not publish %d event(s), the first to %s", len(batch), batch[0][0], exc_info=True)
            _local.away_until = time.monotonic() + AWAY_SECONDS


async def _send_batch(layer: Any, batch: list[tuple[str, Event]]) -> None:
    send_many = getattr(layer, "group_send_many", None)
    if send_many is not None:
        await send_many(batch)
        return
    for group, event in batch:  # another layer (the embedded profile's in-memory one)
        await layer.group_send(group, event)


# One thread sends every event, in order; callers never wait for the layer. The events put while a batch is sent
# are the next batch (no added wait). A forked child starts with none of its parent's events.
_publisher: Batcher[tuple[str, Event]] = Batcher(Worker("engram-events"), _deliver)


def _put(group: str, event: Event) -> None:
    _publisher.submit((group, event))


def _send(agent_id: uuid.UUID | str, event: Event) -> None:
    _put(group_name(agent_id), event)


def flush() -> None:
    """Wait until every event published so far has been handed to the channel layer (tests, shutdown)."""
    _publisher.flush()


def publish(agent_id: uuid.UUID | str, event: Event) -> None:
    """Publish after the current transaction commits (immediately when there is none)."""
    transaction.on_commit(lambda: _send(agent_id, event))


def publish_now(agent_id: uuid.UUID | str, event: Event) -> None:
    _send(agent_id, event)


def message_payload(message: Message) -> MessagePayload:
    return {
        "id": public_id("message", message.id),
        "seq": message.seq,
        "role": message.role,
        "text": message.text,
        "reasoning": message.reasoning,
        "tool_calls": message.tool_calls,
        "tool_call_id": message.tool_call_id,
        "name": message.name,
        "is_err": message.is_err,
        "run_id": public_id_or_none("run", message.run_id),
        "step_id": public_id_or_none("step", message.step_id),
        "created_at": message.created_at.isoformat(),
    }


def message_created(message: Message) -> None:
    publish(
        message.agent_id,
        {"type": "agent.message", "agent_id": str(message.agent_id), "message": message_payload(message)},
    )


def run_status(run: Run) -> None:
    event: RunStatusEvent = {
        "type": "agent.run_status",
        "agent_id": str(run.agent_id),
        "run_id": public_id("run", run.id),
        "status": run.status,
        "stop_reason": run.stop_reason,
    }

    def send() -> None:
        _put(group_name(run.agent_id), event)
        _put(organization_group(run.organization_id), event)

    transaction.on_commit(send)


def step_done(step: Step) -> None:
    publish(
        step.agent_id,
        {
            "type": "agent.step",
            "agent_id": str(step.agent_id),
            "run_id": public_id("run", step.run_id),
            "step_id": public_id("step", step.id),
            "index": step.index,
            "model": step.model,
            "prompt_tokens": step.prompt_tokens,
            "completion_tokens": step.completion_tokens,
            "latency_ms": step.latency_ms,
            "error": step.error,
        },
    )


def token(
    *,
    agent_id: uuid.UUID,
    run_id: uuid.UUID,
    step_index: int,
    kind: Literal["content", "reasoning", "tool_name", "tool_call"],
    delta: str,
    offset: int,
) -> None:
    publish_now(
        agent_id,
        {
            "type": "agent.token",
            "agent_id": str(agent_id),
            "run_id": public_id("run", run_id),
            "step_index": step_index,
            "kind": kind,
            "delta": delta,
            "offset": offset,
        },
    )


def compaction(
    *, agent_id: uuid.UUID, run_id: uuid.UUID | None, evicted: int, tokens_before: int, tokens_after: int, summary: str
) -> None:
    publish(
        agent_id,
        {
            "type": "agent.compaction",
            "agent_id": str(agent_id),
            "run_id": public_id_or_none("run", run_id),
            "evicted": evicted,
            "tokens_before": tokens_before,
            "tokens_after": tokens_after,
            "summary": summary,
        },
    )


def block_changed_receiver(sender: Any, *, block_id: uuid.UUID, revision_id: uuid.UUID | None, **kwargs: Any) -> None:
    """memory.signals.block_changed (sent after commit) → an agent.block event to every agent using the block."""
    from agents.models import AgentBlock
    from memory.models import Block

    block = Block.objects.filter(pk=block_id).first()
    agent_ids = list(AgentBlock.objects.filter(block_id=block_id).values_list("agent_id", flat=True))
    for agent_id in agent_ids:
        _send(
            agent_id,
            {
                "type": "agent.block",
                "agent_id": str(agent_id),
                "block_id": public_id("block", block_id),
                "label": block.label if block else "",
                "value": block.value if block else "",
                "limit": block.limit if block else 0,
                "revision_id": str(revision_id) if revision_id else None,
            },
        )
