import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from ade.consumers import agent_group
from agents.models import Agent
from config.asgi import application
from lib.ids import public_id

pytestmark = pytest.mark.django_db(transaction=True)
T = TypeVar("T")


def run(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run an async scenario in its own thread: the session's Playwright loop may own this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(async_to_sync(fn), *args).result(timeout=30)


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(agent: Agent, *, user: Any = None, origin: bytes = b"http://testserver") -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"testserver")]
    if user is not None:
        headers.append((b"cookie", session_cookie(user)))
    return WebsocketCommunicator(application, f"/ws/agents/{agent.id}/", headers=headers)


async def _connect(comm: WebsocketCommunicator) -> tuple[bool, int | None]:
    connected, code = await comm.connect()
    await comm.disconnect()
    return connected, code


async def _relayed_block_event(comm: WebsocketCommunicator, agent: Agent) -> Any:
    """Publish an `agent.block` event to the agent's group; what the connected socket receives, then disconnect."""
    event = {"type": "agent.block", "agent_id": str(agent.id), "block_id": "b1", "label": "human"}
    await get_channel_layer().group_send(agent_group(agent.id), event)
    received = await comm.receive_json_from(timeout=2)
    await comm.disconnect()
    return received


def test_it_relays_agent_events_to_a_teammate(agent: Agent, bob: Any) -> None:
    comm = communicator(agent, user=bob)

    async def scenario() -> Any:
        connected, _ = await comm.connect()
        assert connected
        return await _relayed_block_event(comm, agent)

    assert run(scenario)["type"] == "agent.block"


def test_it_closes_anonymous_sockets_with_4401(agent: Agent) -> None:
    assert run(_connect, communicator(agent)) == (False, 4401)


def test_it_closes_an_outsiders_socket_with_4403(agent: Agent, charlie: Any) -> None:
    assert run(_connect, communicator(agent, user=charlie)) == (False, 4403)


def test_it_closes_sockets_for_unknown_agents_with_4403(alice: Any, org_a: Any) -> None:
    ghost = Agent(id="00000000-0000-4000-8000-000000000000", organization=org_a)
    assert run(_connect, communicator(ghost, user=alice)) == (False, 4403)


def test_the_origin_validator_refuses_other_sites(agent: Agent, alice: Any) -> None:
    connected, _ = run(_connect, communicator(agent, user=alice, origin=b"http://evil.example"))
    assert not connected


def organization_communicator(user: Any) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", session_cookie(user))]
    return WebsocketCommunicator(application, "/ws/organization/", headers=headers)


def test_run_status_changes_reach_the_organizations_dashboards_only(agent: Agent, bob: Any, charlie: Any) -> None:
    from agents.models import Run, RunStatus
    from agents.runtime import events

    run_ = Run(id=uuid.uuid4(), agent_id=agent.id, organization_id=agent.organization_id, status=RunStatus.RUNNING)
    teammate, outsider = organization_communicator(bob), organization_communicator(charlie)

    async def scenario() -> tuple[Any, bool]:
        assert (await teammate.connect())[0] and (await outsider.connect())[0]
        await database_sync_to_async(events.run_status)(run_)  # the publisher the runtime uses, after commit
        await database_sync_to_async(events.flush)()
        received = await teammate.receive_json_from(timeout=2)
        quiet = await outsider.receive_nothing(timeout=0.3)
        await teammate.disconnect()
        await outsider.disconnect()
        return received, quiet

    received, outsider_heard_nothing = run(scenario)
    assert received == {
        "type": "agent.run_status",
        "agent_id": str(agent.id),
        "run_id": public_id("run", run_.id),
        "status": "running",
        "stop_reason": "",
    }
    assert outsider_heard_nothing


def test_the_organization_socket_needs_a_member(agent: Agent) -> None:
    from django.contrib.auth.models import User

    anonymous = WebsocketCommunicator(
        application, "/ws/organization/", headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")]
    )
    assert run(_connect, anonymous) == (False, 4401)
    loner = User.objects.create_user(username="loner", password="password-loner")
    assert run(_connect, organization_communicator(loner)) == (False, 4403)


def test_frames_from_the_browser_are_ignored_even_when_deep_or_malformed(agent: Agent, alice: Any) -> None:
    comm = communicator(agent, user=alice)

    async def scenario() -> Any:
        connected, _ = await comm.connect()
        assert connected
        await comm.send_to(text_data="[" * 100_000 + "]" * 100_000)
        await comm.send_to(text_data="{not json")
        await comm.send_to(bytes_data=b"\x00\x01")
        return await _relayed_block_event(comm, agent)

    assert run(scenario)["type"] == "agent.block"


def test_open_sockets_are_counted_for_metrics(agent: Agent, alice: Any, charlie: Any) -> None:
    from prometheus_client import REGISTRY

    def open_now() -> float:
        return REGISTRY.get_sample_value("engram_websockets_open") or 0.0

    before = open_now()
    comm = communicator(agent, user=alice)
    refused = communicator(agent, user=charlie)

    async def scenario() -> tuple[float, float]:
        connected, _ = await comm.connect()
        assert connected
        assert not (await refused.connect())[0]  # a refused socket is never counted
        during = open_now()
        await comm.disconnect()
        return during, open_now()

    during, after = run(scenario)
    assert during == before + 1
    assert after == before
