from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from ade.consumers import agent_group
from agents.models import Agent
from config.asgi import application

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


def test_it_relays_agent_events_to_a_teammate(agent: Agent, bob: Any) -> None:
    comm = communicator(agent, user=bob)

    async def scenario() -> Any:
        connected, _ = await comm.connect()
        assert connected
        event = {"type": "agent.block", "agent_id": str(agent.id), "block_id": "b1", "label": "human"}
        await get_channel_layer().group_send(agent_group(agent.id), event)
        received = await comm.receive_json_from(timeout=2)
        await comm.disconnect()
        return received

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
