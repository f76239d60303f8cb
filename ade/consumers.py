"""Websocket consumers. They authorize, subscribe to one agent's group (or to the user's organization, for the
dashboard's run status changes) and relay its events; nothing else. Every socket also joins its user's group
(accounts.events) and closes with 4401 when its session signs out or its user is removed, deactivated or changes
their password elsewhere: Channels checks the session only when a socket opens.

Events come from agents/runtime/events.py after the database commit. The channel layer drops messages under load, so
the page treats them as hints: it re-fetches panels over HTTP on each event and after every reconnect."""

import time
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import User
from rest_framework.exceptions import NotFound

from accounts.events import SessionsEndEvent, session_tag, user_group
from accounts.models import Membership
from accounts.selectors import organization_id_for, session_valid
from agents.models import Agent, AgentType, Run
from agents.reply_stream import ReplyDeltas
from agents.runtime.events import RunStatusEvent, TokenEvent, organization_group
from agents.runtime.waiting import TERMINAL_STATUSES
from agents.selectors import agent_get, run_get
from lib import metrics
from lib.ids import parse_id

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
MAX_STREAMED_RUNS = 8  # runs whose token deltas one socket reads at once


def agent_group(agent_id: uuid.UUID | str) -> str:
    return f"agent.{agent_id}"


def _can_see_agent(user: User, agent_id: uuid.UUID) -> bool:
    try:
        agent_get(actor=user, agent_id=agent_id)
    except Agent.DoesNotExist:
        return False
    return True


def _run_reader(user: User, run_public_id: str) -> tuple[ReplyDeltas, str]:
    """How to read the run's token deltas (by its agent's type now: Settings may change it while a socket is
    open), and the id of the conversation the run belongs to, "" for the agent's own history."""
    try:
        run = run_get(actor=user, run_id=parse_id("run", run_public_id))
    except (Run.DoesNotExist, NotFound):
        return ReplyDeltas(memgpt=False, joins_midway=True), ""
    return ReplyDeltas(memgpt=run.agent.agent_type == AgentType.MEMGPT, joins_midway=True), str(
        run.conversation_id or ""
    )


class _GroupConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Lets a signed-in user join the one group `group_for` allows and relays its events. The page sends over
    HTTP; the socket is server-to-browser only."""

    group: str | None = None
    account_group: str | None = None
    session: str | None = None
    session_key: str | None = None
    user_id: int | None = None
    checked_at = 0.0
    counted = False  # accepted, so counted among the open sockets until it disconnects

    async def group_for(self, user: User) -> str | None:
        """The group to join, or None to refuse the socket (4403)."""
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        group = await self.group_for(user)
        if group is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = group
        self.account_group = user_group(user.pk)
        session = self.scope.get("session")
        self.session_key = session.session_key if session is not None else None
        self.session = session_tag(self.session_key)
        self.user_id = user.pk
        self.checked_at = time.monotonic()
        await self.channel_layer.group_add(self.account_group, self.channel_name)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.counted = True
        metrics.WEBSOCKETS_OPEN.inc()

    async def disconnect(self, code: int) -> None:
        if self.counted:
            self.counted = False
            metrics.WEBSOCKETS_OPEN.dec()
        for group in (self.group, self.account_group):
            if group is not None:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def account_sessions_end(self, event: SessionsEndEvent) -> None:
        if event["session"] is not None and event["session"] != self.session:
            return  # another session of the same user signed out
        if event["keep"] is not None and event["keep"] == self.session:
            return  # the session that changed the password
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        # Nothing the browser sends is used, so frames are not even parsed: JSON nested a thousand levels deep (or
        # not JSON at all) would otherwise end the consumer with an exception.
        return

    async def _relay(self, event: dict[str, Any]) -> None:
        if not await self._session_still_valid():
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.send_json(event)

    async def _session_still_valid(self) -> bool:
        """Account events close sockets at once; this catches what sends none (a session expired or cleared, a
        password set in the admin) at the next event, reading the session store at most every
        ENGRAM_WS_RECHECK_SECONDS so a stream of token deltas does not become a stream of queries."""
        now = time.monotonic()
        if now - self.checked_at < settings.ENGRAM_WS_RECHECK_SECONDS or self.user_id is None:
            return True
        self.checked_at = now
        valid: bool = await database_sync_to_async(session_valid)(session_key=self.session_key, user_id=self.user_id)
        return valid


class AgentConsumer(_GroupConsumer):
    """Relays the agent's events; token deltas are read first (agents.reply_stream), so the chat gets what they
    show, `reasoning` or `reply` text (a memgpt reply decoded out of its send_message call as it streams), and
    nothing for the deltas of other tool calls. Each carries its run's `conversation` ("" for the agent's own
    history), so the page shows a run's first tokens before its run banner has loaded, and only in its chat."""

    runs: dict[str, tuple[ReplyDeltas, str]]

    async def group_for(self, user: User) -> str | None:
        agent_id: uuid.UUID = self.scope["url_route"]["kwargs"]["agent_id"]
        self.runs = {}
        return agent_group(agent_id) if await database_sync_to_async(_can_see_agent)(user, agent_id) else None

    async def agent_token(self, event: TokenEvent) -> None:
        run_id = event["run_id"]
        if run_id not in self.runs:
            while len(self.runs) >= MAX_STREAMED_RUNS:  # runs whose end this socket missed
                self.runs.pop(next(iter(self.runs)))
            self.runs[run_id] = await database_sync_to_async(_run_reader)(self.scope["user"], run_id)
        deltas, conversation = self.runs[run_id]
        read = deltas.read(event["step_index"], event["kind"], event["delta"], offset=event.get("offset"))
        if read is None:
            return
        kind, text = read
        shown = {"type": "agent.token", "run_id": run_id, "conversation": conversation, "kind": kind}
        await self._relay({**shown, "step_index": event["step_index"], "delta": text})

    async def agent_run_status(self, event: RunStatusEvent) -> None:
        if event["status"] in TERMINAL_STATUSES:
            self.runs.pop(event["run_id"], None)
        await self._relay(dict(event))

    # One handler per event type published by agents/runtime/events.py ("agent.block" dispatches to agent_block).
    agent_message = _GroupConsumer._relay
    agent_step = _GroupConsumer._relay
    agent_block = _GroupConsumer._relay
    agent_compaction = _GroupConsumer._relay
    agent_files = _GroupConsumer._relay  # files.events: a file of an attached folder changed status or progress


class OrganizationConsumer(_GroupConsumer):
    """The run status changes of every agent of the user's own organization (there is no id to ask for another)."""

    async def group_for(self, user: User) -> str | None:
        try:
            return organization_group(await database_sync_to_async(organization_id_for)(user))
        except Membership.DoesNotExist:
            return None

    agent_run_status = _GroupConsumer._relay
