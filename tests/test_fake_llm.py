"""The fake OpenAI server works end to end through litellm."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from tests.fakes.llm_server import FakeLLM, Reply

MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Hello there, how are you?"}]


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def complete(fake: FakeLLM, **kwargs: Any) -> Any:
    kwargs.setdefault("messages", MESSAGES)
    return litellm.completion(
        model=MODEL,
        api_base=fake.base_url,
        api_key="x",
        num_retries=0,
        max_retries=0,
        **kwargs,
    )


def test_plain_reply_and_recording(fake: FakeLLM) -> None:
    fake.reply("Hi! I am fine.")
    response = complete(fake)
    assert response.choices[0].message.content == "Hi! I am fine."
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens == math.ceil(len(MESSAGES[0]["content"]) / 4)
    assert response.usage.completion_tokens > 0
    assert fake.last_chat()["messages"] == MESSAGES
    assert fake.last_chat()["model"] == "gpt-4o-mini"
    # queue empty -> default answers "ok"
    assert complete(fake).choices[0].message.content == "ok"
    assert len(fake.chat_requests()) == 2


def test_tool_calls(fake: FakeLLM) -> None:
    fake.tool_call("search", {"query": "cats"}, id="call_1")
    fake.tool_calls([("a", {"x": 1}), ("b", "{not json")], text="two at once")
    tools = [
        {
            "type": "function",
            "function": {"name": "search", "parameters": {"type": "object"}},
        }
    ]
    first = complete(fake, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_1",
        "search",
        {"query": "cats"},
    )
    second = complete(fake, tools=tools).choices[0].message
    assert second.content == "two at once"
    assert [c.function.name for c in second.tool_calls] == ["a", "b"]
    assert second.tool_calls[1].function.arguments == "{not json"


def test_streaming_reassembles(fake: FakeLLM) -> None:
    fake.reply("The quick brown fox jumps over the lazy dog.")
    fake.tool_call("remember", {"fact": "the user likes foxes"})
    chunks = list(complete(fake, stream=True, stream_options={"include_usage": True}))
    assert len(chunks) > 3
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The quick brown fox jumps over the lazy dog."
    assert litellm.stream_chunk_builder(chunks).usage.completion_tokens > 0

    chunks = list(complete(fake, stream=True))
    rebuilt = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    call = rebuilt.choices[0].message.tool_calls[0]
    assert call.function.name == "remember"
    assert json.loads(call.function.arguments) == {"fact": "the user likes foxes"}
    assert rebuilt.choices[0].finish_reason == "tool_calls"


def test_errors_and_callables(fake: FakeLLM) -> None:
    fake.error(429, "Rate limit reached")
    with pytest.raises(litellm.RateLimitError):
        complete(fake)
    fake.context_overflow()
    with pytest.raises(litellm.ContextWindowExceededError):
        complete(fake)
    fake.push(lambda body: Reply(text=f"{len(body['messages'])} messages"))
    assert complete(fake).choices[0].message.content == "1 messages"
    fake.default = lambda body: "computed default"
    assert complete(fake).choices[0].message.content == "computed default"


def test_delay(fake: FakeLLM) -> None:
    fake.reply("slow", delay=0.3)
    started = time.monotonic()
    assert complete(fake).choices[0].message.content == "slow"
    assert time.monotonic() - started >= 0.3


def test_embeddings(fake: FakeLLM) -> None:
    texts = [
        "the cat sat on the mat",
        "the cat sat on a mat",
        "quantum chromodynamics lecture",
    ]
    response = litellm.embedding(
        model="openai/text-embedding-3-small",
        input=texts,
        api_base=fake.base_url,
        api_key="x",
    )
    vectors = [item["embedding"] for item in response.data]
    assert [len(v) for v in vectors] == [8, 8, 8]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert response.usage.prompt_tokens > 0
    fake.embedding_dim = 16
    single = litellm.embedding(
        model="openai/text-embedding-3-small",
        input="hi",
        api_base=fake.base_url,
        api_key="x",
    )
    assert len(single.data[0]["embedding"]) == 16


def test_models_and_reset(fake: FakeLLM) -> None:
    import urllib.request

    with urllib.request.urlopen(fake.url + "/v1/models") as resp:
        assert json.load(resp)["data"][0]["id"] == "gpt-4o-mini"
    fake.reply("unused")
    fake.reset()
    assert fake.requests == [] and fake.pending() == 0


def test_an_answer_cut_mid_way_fails_the_call(fake: FakeLLM) -> None:
    fake.push(Reply(text="one two three four five six seven", cut_after=3))
    with pytest.raises(litellm.ServiceUnavailableError):  # litellm's word for a stream broken mid-way
        for _chunk in complete(fake, stream=True):
            pass
    fake.push(Reply(text="a whole answer", cut_after=0))
    with pytest.raises(litellm.InternalServerError):  # half a body, then the connection closed
        complete(fake)
    assert complete(fake).choices[0].message.content == "ok"  # the next call is answered whole


def test_the_control_endpoint_sets_the_default_reply(fake: FakeLLM) -> None:
    import httpx

    httpx.post(f"{fake.url}/_fake/default", json={"text": "slow", "delay": 0.3}).raise_for_status()
    started = time.monotonic()
    assert complete(fake).choices[0].message.content == "slow"
    assert time.monotonic() - started >= 0.3
    httpx.post(f"{fake.url}/_fake/default", json={"error_status": 429, "error_message": "slow down"})
    with pytest.raises(litellm.RateLimitError, match="slow down"):
        complete(fake)
    httpx.post(f"{fake.url}/_fake/default", json={"tool_calls": [["send_message", '{"message": "unfinished']]})
    call = complete(fake).choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("send_message", '{"message": "unfinished')
