"""Server-sent events for a run: LettaMessages as they are persisted (token deltas first, with stream_tokens),
then `stop_reason`, `usage_statistics` and `[DONE]`; a failed run ends with `event: error`.

The database is the source of truth: every frame but the token deltas comes from polling the run's messages (by
seq, so nothing is skipped or repeated). Channel-layer events only wake the poll early and carry the token
deltas, which are never stored; when the stored message arrives, only the part that deltas did not cover (if
any were dropped at the end) is sent, so a client that concatenates deltas gets the stored text."""

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import User
from django.db import close_old_connections
from django.http import StreamingHttpResponse

from agents.models import AgentType, Message, Run, RunStatus, StopReason
from agents.reply_stream import ReplyDeltas
from agents.runtime.events import group_name
from agents.runtime.waiting import TERMINAL_STATUSES
from agents.selectors import message_list, run_get
from agents.services.messages import assistant_message_id
from api import wire
from lib.ids import parse_id, public_id

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
REJOIN_SECONDS = 1.0  # while the channel layer is away, how often a stream tries to join its group again
JOIN_TIMEOUT = 1.0  # a join that takes longer (Redis restarting) is given up: the stream starts without the layer
logger = logging.getLogger(__name__)


@dataclass
class Subscription:
    """A channel on the agent's event group, opened before the run starts so no token delta is missed. The layer
    (Redis) may be away (restarting): the stream then goes on from the database alone, without token deltas (each
    message's text comes whole from its stored row), and joins the group again once the layer answers."""

    layer: Any
    group: str
    channel: str | None = None
    closed: bool = field(default=False)
    joined: bool = False
    retry_at: float = 0.0  # when to try joining again, while not joined

    async def join(self) -> bool:
        if self.layer is None:
            return False
        try:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
            await asyncio.wait_for(self.layer.group_add(self.group, self.channel), JOIN_TIMEOUT)
        except Exception:
            logger.warning("stream of %s: the channel layer is not answering; following the database", self.group)
            self.retry_at = time.monotonic() + REJOIN_SECONDS
            self.joined = False
            return False
        self.joined = True
        return True

    async def receive(self, wait: float) -> list[dict[str, Any]]:
        """Events that arrive within `wait` seconds (all that are queued, once one is)."""
        if not self.joined and (time.monotonic() < self.retry_at or not await self.join()):
            await asyncio.sleep(wait)
            return []
        events: list[dict[str, Any]] = []
        try:
            events.append(await asyncio.wait_for(self.layer.receive(self.channel), wait))
            while True:  # drain what is already queued
                events.append(await asyncio.wait_for(self.layer.receive(self.channel), 0.001))
        except TimeoutError:
            pass
        except Exception:  # the layer went away mid-stream: what it would have announced is read from the database
            logger.warning("stream of %s: the channel layer failed; following the database", self.group)
            self.joined = False
            self.retry_at = time.monotonic() + REJOIN_SECONDS
        return events

    async def close(self) -> None:
        if not self.closed and self.layer is not None and self.channel is not None:
            self.closed = True
            with contextlib.suppress(Exception):  # a layer that is away forgets the member by itself (expiry)
                await asyncio.wait_for(self.layer.group_discard(self.group, self.channel), JOIN_TIMEOUT)

    def close_sync(self) -> None:
        async_to_sync(self.close)()


def stream_subscribe(agent_id: uuid.UUID) -> Subscription:
    from channels.layers import get_channel_layer

    subscription = Subscription(layer=get_channel_layer(), group=group_name(agent_id))
    async_to_sync(subscription.join)()
    return subscription


def frame(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "").encode() + f"data: {body}\n\n".encode()


def _poll(actor: User, run_id: uuid.UUID, after: uuid.UUID | None) -> tuple[Run, list[Message]]:
    # The status is read first: rows are committed before the run is finished, so a final status means every
    # row of the run is visible to the listing that follows.
    run = run_get(actor=actor, run_id=run_id)
    rows = message_list(actor=actor, agent_id=run.agent_id, run_id=run.id, after=after, order="asc", limit=1000)
    return run, rows


@dataclass
class _Tokens:
    """Token deltas sent so far, per stored message id and LettaMessage type. A reply the agent sends through its
    assistant-message tool (memgpt's `send_message`) streams as assistant_message deltas decoded from the call's
    arguments, like Letta's."""

    memgpt: bool
    options: wire.MessageOptions = wire.DEFAULT_OPTIONS
    sent: dict[str, dict[str, str]] = field(default_factory=dict)
    deltas: ReplyDeltas = field(init=False)
    stored: set[str] = field(default_factory=set)  # messages already sent from the database: later deltas are late

    def __post_init__(self) -> None:
        tool = self.options.assistant_message_tool_name if self.options.use_assistant_message else None
        self.deltas = ReplyDeltas(
            memgpt=self.memgpt, reply_tool=tool, reply_kwarg=self.options.assistant_message_tool_kwarg
        )

    def frame_for(self, event: dict[str, Any], run: Run) -> dict[str, Any] | None:
        step_index = int(event.get("step_index", 0))
        kind, delta = str(event.get("kind")), event.get("delta") or ""
        if str(assistant_message_id(run_id=run.id, step_index=step_index)) in self.stored:
            return None
        # Out of order (a delta went missing): that text comes whole from the stored message.
        read = self.deltas.read(step_index, kind, delta, offset=int(event.get("offset", -1)))
        if read is None:
            return None  # other tool calls arrive whole, from the stored message
        kind, delta = read
        message_type, key = (
            ("reasoning_message", "reasoning") if kind == "reasoning" else ("assistant_message", "content")
        )
        message_id = str(assistant_message_id(run_id=run.id, step_index=step_index))
        sent = self.sent.setdefault(message_id, {})
        index = 0 if message_type == "reasoning_message" or "reasoning_message" not in sent else 1
        sent[message_type] = sent.get(message_type, "") + delta
        out: dict[str, Any] = {
            "id": public_id("message", message_id),
            "message_type": message_type,
            "date": wire.now_iso(),
            "name": None,
            "otid": message_id[:-2] + f"{index:02x}",
            "sender_id": None,
            "step_id": None,
            "run_id": public_id("run", run.id),
            "is_err": None,
            "seq_id": None,
            key: delta,
        }
        if message_type == "reasoning_message":
            out.update(source="non_reasoner_model", signature=None)
        return out

    def remainder(self, piece: dict[str, Any]) -> dict[str, Any] | None:
        """The stored piece, minus what its deltas already carried (None when they carried all of it). Deltas
        of the message that arrive later are dropped: the client already has the whole text."""
        message_id = str(parse_id("message", piece["id"]))
        self.stored.add(message_id)
        sent = self.sent.get(message_id, {})
        if piece["message_type"] not in sent:
            return piece
        key = "reasoning" if piece["message_type"] == "reasoning_message" else "content"
        full, streamed = piece.get(key), sent[piece["message_type"]]
        if isinstance(full, str) and full.startswith(streamed) and len(full) > len(streamed):
            return {**piece, key: full[len(streamed) :]}
        return None


async def run_stream(
    *,
    actor: User,
    run: Run,
    subscription: Subscription,
    options: wire.MessageOptions,
    types: Iterable[str] | None,
    stream_tokens: bool,
    include_pings: bool,
    starting_after: int = 0,
) -> AsyncIterator[bytes]:
    wanted = set(types) if types else None
    tokens = _Tokens(memgpt=await sync_to_async(_is_memgpt)(run), options=options)
    run_public = public_id("run", run.id)
    after: uuid.UUID | None = None
    quiet_since = time.monotonic()
    try:
        while True:
            events = await subscription.receive(POLL_SECONDS)
            for event in events:
                if stream_tokens and event.get("type") == "agent.token" and event.get("run_id") == run_public:
                    delta = tokens.frame_for(event, run)
                    if delta is not None and (wanted is None or delta["message_type"] in wanted):
                        quiet_since = time.monotonic()
                        yield frame(delta)
            current, rows = await sync_to_async(_poll)(actor, run.id, after)
            for row in rows:
                after = row.id
                if wire.is_run_input(row) or (row.seq or 0) <= starting_after:
                    continue
                for piece in wire.message_to_wire(row, options):
                    rest = tokens.remainder(piece) if stream_tokens else piece
                    if rest is not None and (wanted is None or rest["message_type"] in wanted):
                        quiet_since = time.monotonic()
                        yield frame(rest)
            if current.status in TERMINAL_STATUSES:
                for chunk in _ending(current):
                    yield chunk
                return
            if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                if include_pings:
                    yield frame(
                        {
                            "id": public_id("message", uuid.uuid4()),
                            "message_type": "ping",
                            "date": wire.now_iso(),
                            "run_id": run_public,
                        }
                    )
                else:
                    yield b": keepalive\n\n"
    finally:
        await subscription.close()
        await sync_to_async(close_old_connections)()


def _is_memgpt(run: Run) -> bool:
    return run.agent.agent_type == AgentType.MEMGPT


def _ending(run: Run) -> list[bytes]:
    reason = StopReason.of_run(status=run.status, value=run.stop_reason)
    if run.status == RunStatus.FAILED and StopReason.errored(reason):
        error = {
            "message_type": "error_message",
            "run_id": public_id("run", run.id),
            "error_type": reason,
            "message": "The run failed.",
            "detail": run.error or None,
        }
        return [frame(error, event="error"), frame("[DONE]")]
    stop = {"message_type": "stop_reason", "stop_reason": reason}
    return [frame(stop), frame(wire.usage_statistics([run])), frame("[DONE]")]


def sse_response(
    *,
    actor: User,
    run: Run,
    subscription: Subscription,
    options: wire.MessageOptions,
    types: Iterable[str] | None,
    stream_tokens: bool,
    include_pings: bool,
    starting_after: int = 0,
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        run_stream(
            actor=actor,
            run=run,
            subscription=subscription,
            options=options,
            types=types,
            stream_tokens=stream_tokens,
            include_pings=include_pings,
            starting_after=starting_after,
        ),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
