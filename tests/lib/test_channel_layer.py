"""lib.channel_layer on a real Redis, and the event publisher (agents.runtime.events) sending through it."""

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from agents.runtime import events
from lib.channel_layer import RedisChannelLayer
from tests.backing import ensure_redis


def apart(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a thread of its own: the session's Playwright loop may own the test's thread, and
    asyncio.run and async_to_sync refuse to run beside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


async def take(layer: RedisChannelLayer, channel: str, count: int) -> tuple[list[Any], bool]:
    """`count` messages of the channel, and whether another one follows within 0.3 s."""
    got = [(await asyncio.wait_for(layer.receive(channel), 10))["n"] for _ in range(count)]
    try:
        await asyncio.wait_for(layer.receive(channel), 0.3)
    except TimeoutError:
        return got, False
    return got, True


def test_group_send_many_reaches_the_groups_with_members_in_order() -> None:
    layer = RedisChannelLayer(hosts=[ensure_redis()])
    watched, other, empty = (f"agent.{uuid.uuid4()}" for _ in range(3))

    async def scenario() -> None:
        channel, second = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(watched, channel)
        await layer.group_add(other, second)
        sends = [(empty, 0), (watched, 1), (other, 2), (empty, 3), (watched, 4)]
        await layer.group_send_many([(group, {"type": "agent.step", "n": n}) for group, n in sends])
        assert await take(layer, channel, 2) == ([1, 4], False)
        assert await take(layer, second, 1) == ([2], False)
        # A member that left gets nothing more.
        await layer.group_discard(watched, channel)
        await layer.group_send_many([(watched, {"type": "agent.step", "n": 5})])
        assert await take(layer, channel, 0) == ([], False)
        with pytest.raises(TypeError):
            await layer.group_send_many([("not a valid group!", {"type": "agent.step"})])

    apart(asyncio.run, scenario())


def test_the_publisher_sends_a_burst_of_events_in_order_through_redis(settings: Any) -> None:
    url = ensure_redis()
    layers = {"default": {"BACKEND": "lib.channel_layer.RedisChannelLayer", "CONFIG": {"hosts": [url]}}}
    settings.CHANNEL_LAYERS = layers
    apart(_publish_a_burst, url)


def _publish_a_burst(url: str) -> None:
    watcher = RedisChannelLayer(hosts=[url])
    agent_id, nobody = uuid.uuid4(), uuid.uuid4()
    channel = async_to_sync(watcher.new_channel)()
    async_to_sync(watcher.group_add)(events.group_name(agent_id), channel)
    for n in range(50):  # faster than the publisher sends them: they go out in batches
        events.publish_now(nobody, {"type": "agent.block", "agent_id": str(nobody), "n": n})
        events.publish_now(agent_id, {"type": "agent.block", "agent_id": str(agent_id), "n": n})
    events.flush()
    assert asyncio.run(take(watcher, channel, 50)) == (list(range(50)), False)
