"""Websockets end with their session (sign-out, removal, deactivation, password change) and check the Origin's
scheme, host and port."""

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts import selectors as account_selectors
from accounts import services as account_services
from agents.models import Agent
from config.asgi import application
from tests.ade.test_consumers import run

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def socket(client: Client, path: str, *, origin: bytes = b"http://testserver", host: bytes = b"testserver") -> Any:
    headers = [
        (b"origin", origin),
        (b"host", host),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    return WebsocketCommunicator(application, path, headers=headers)


async def closed_with(comm: WebsocketCommunicator) -> int | None:
    message = await comm.receive_output(timeout=3)
    assert message["type"] == "websocket.close", message
    return message.get("code")


def test_signing_out_closes_that_sessions_sockets_only(agent: Agent, bob: Any) -> None:
    browser, other_browser = signed_in(bob), signed_in(bob)
    agent_socket = socket(browser, f"/ws/agents/{agent.id}/")
    dashboard_socket = socket(browser, "/ws/organization/")
    other_socket = socket(other_browser, f"/ws/agents/{agent.id}/")

    async def scenario() -> tuple[int | None, int | None, bool]:
        for comm in (agent_socket, dashboard_socket, other_socket):
            assert (await comm.connect())[0]
        response = await sync_to_async(browser.post)("/accounts/logout/")  # the real sign-out view
        assert response.status_code == 302
        codes = await closed_with(agent_socket), await closed_with(dashboard_socket)
        still_open = await other_socket.receive_nothing(timeout=0.3)
        await other_socket.disconnect()
        return codes[0], codes[1], still_open

    assert run(scenario) == (4401, 4401, True)


def test_removing_a_member_closes_all_their_sockets(agent: Agent, alice: Any, bob: Any) -> None:
    first, second = socket(signed_in(bob), f"/ws/agents/{agent.id}/"), socket(signed_in(bob), "/ws/organization/")
    alices = socket(signed_in(alice), f"/ws/agents/{agent.id}/")

    def remove() -> None:
        membership = account_selectors.membership_get_by_username(actor=alice, username="bob")
        account_services.membership_remove(actor=alice, membership=membership)

    async def scenario() -> tuple[int | None, int | None, bool]:
        for comm in (first, second, alices):
            assert (await comm.connect())[0]
        await sync_to_async(remove)()
        codes = await closed_with(first), await closed_with(second)
        untouched = await alices.receive_nothing(timeout=0.3)
        await alices.disconnect()
        return codes[0], codes[1], untouched

    assert run(scenario) == (4401, 4401, True)


def test_deactivating_a_user_anywhere_closes_their_sockets(agent: Agent, bob: Any) -> None:
    comm = socket(signed_in(bob), f"/ws/agents/{agent.id}/")

    def deactivate() -> None:  # as the admin's change form does
        bob.is_active = False
        bob.save()

    async def scenario() -> int | None:
        assert (await comm.connect())[0]
        await sync_to_async(deactivate)()
        return await closed_with(comm)

    assert run(scenario) == 4401


def test_a_password_change_closes_the_other_sessions_sockets(agent: Agent, bob: Any) -> None:
    browser, other_browser = signed_in(bob), signed_in(bob)
    own, other = socket(browser, f"/ws/agents/{agent.id}/"), socket(other_browser, f"/ws/agents/{agent.id}/")
    form = {
        "old_password": "password-bob",
        "new_password1": "an-even-longer-secret",
        "new_password2": "an-even-longer-secret",
    }

    async def scenario() -> tuple[int | None, bool]:
        assert (await own.connect())[0] and (await other.connect())[0]
        response = await sync_to_async(browser.post)("/account/password/", form)
        assert response.status_code == 302
        code = await closed_with(other)
        kept = await own.receive_nothing(timeout=0.3)
        await own.disconnect()
        return code, kept

    assert run(scenario) == (4401, True)


def connects(client: Client, agent: Agent, *, origin: bytes, host: bytes) -> bool:
    comm = socket(client, f"/ws/agents/{agent.id}/", origin=origin, host=host)

    async def scenario() -> bool:
        connected, _ = await comm.connect()
        if connected:
            await comm.disconnect()
        return connected

    return run(scenario)


def test_the_origin_must_match_scheme_host_and_port(agent: Agent, alice: Any) -> None:
    client = signed_in(alice)
    assert connects(client, agent, origin=b"http://localhost:8000", host=b"localhost:8000")
    assert not connects(client, agent, origin=b"http://localhost:9999", host=b"localhost:8000")
    assert not connects(client, agent, origin=b"http://localhost", host=b"localhost:8000")
    assert not connects(client, agent, origin=b"https://localhost:8000", host=b"localhost:8000")
    assert connects(client, agent, origin=b"http://testserver:80", host=b"testserver")


def test_the_host_must_be_allowed_even_when_the_origin_matches_it(agent: Agent, alice: Any) -> None:
    assert not connects(signed_in(alice), agent, origin=b"http://evil.example", host=b"evil.example")


def test_a_trusted_origin_may_differ_from_the_host(agent: Agent, alice: Any, settings: Any) -> None:
    # Behind a TLS proxy the browser's Origin is https://… while the socket reaches daphne as plain ws.
    client = signed_in(alice)
    assert not connects(client, agent, origin=b"https://localhost", host=b"localhost")
    settings.CSRF_TRUSTED_ORIGINS = ["https://localhost"]
    assert connects(client, agent, origin=b"https://localhost", host=b"localhost")
    assert not connects(client, agent, origin=b"https://localhost:444", host=b"localhost")


def relays_after(agent: Agent, user: Any, change: Any) -> tuple[bool, int | None]:
    """Connect, apply `change` (which announces nothing), publish an agent event: relayed, or the close code."""
    from channels.layers import get_channel_layer

    from ade.consumers import agent_group

    comm = socket(signed_in(user), f"/ws/agents/{agent.id}/")

    async def scenario() -> tuple[bool, int | None]:
        assert (await comm.connect())[0]
        await sync_to_async(change)()
        event = {"type": "agent.block", "agent_id": str(agent.id), "block_id": "b1", "label": "human"}
        await get_channel_layer().group_send(agent_group(agent.id), event)
        message = await comm.receive_output(timeout=3)
        if message["type"] == "websocket.close":
            return False, message.get("code")
        await comm.disconnect()
        return True, None

    return run(scenario)


def test_a_socket_rechecks_its_session_before_relaying(agent: Agent, bob: Any, settings: Any) -> None:
    from django.contrib.sessions.models import Session

    settings.ENGRAM_WS_RECHECK_SECONDS = 0
    assert relays_after(agent, bob, lambda: None) == (True, None)
    # Sessions cleared behind the app's back (expiry, clearsessions, a flush in a shell): no event is sent.
    assert relays_after(agent, bob, lambda: Session.objects.all().delete()) == (False, 4401)


def test_a_password_set_in_the_admin_ends_the_socket_at_its_next_event(agent: Agent, bob: Any, settings: Any) -> None:
    settings.ENGRAM_WS_RECHECK_SECONDS = 0

    def admin_sets_password() -> None:
        bob.set_password("set-by-an-admin-123")
        bob.save()

    assert relays_after(agent, bob, admin_sets_password) == (False, 4401)


def test_the_recheck_is_throttled(agent: Agent, bob: Any, settings: Any) -> None:
    from django.contrib.sessions.models import Session

    settings.ENGRAM_WS_RECHECK_SECONDS = 3600  # checked at connect, not again within the hour
    assert relays_after(agent, bob, lambda: Session.objects.all().delete()) == (True, None)


def test_signing_out_works_while_the_channel_layer_is_down(bob: Any, settings: Any) -> None:
    import socket as sockets

    with sockets.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}"]},
        }
    }
    browser = signed_in(bob)
    assert browser.post("/accounts/logout/").status_code == 302
    assert browser.get("/members/").status_code == 302
