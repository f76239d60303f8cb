"""SSE framing and failure handling on the live server, read as raw HTTP (what any client sees)."""

import json
import time
from typing import Any

import httpx
import pytest

from accounts.services import apikey_create
from tests.fakes.llm_server import FakeLLM, Reply, ToolCall
from tests.live import LiveServer

pytestmark = pytest.mark.slow


def frames(body: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE frame."""
    out = []
    for block in body.split("\n\n"):
        event, data = None, []
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if data:
            out.append((event, "\n".join(data)))
    return out


@pytest.fixture
def http(daphne_server: LiveServer, alice: Any) -> httpx.Client:
    key = apikey_create(user=alice, name="raw").raw_key
    return httpx.Client(base_url=daphne_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


@pytest.fixture
def agent_id(http: httpx.Client) -> str:
    response = http.post("/v1/agents/", json={"model": "openai/gpt-4o-mini", "include_base_tools": False})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_a_stream_is_messages_then_stop_reason_usage_and_done(
    http: httpx.Client, agent_id: str, fake_llm: FakeLLM
) -> None:
    fake_llm.reply("All good.")
    response = http.post(f"/v1/agents/{agent_id}/messages/stream", json={"input": "hi", "include_pings": False})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    got = frames(response.text)
    assert got[-1] == (None, "[DONE]")
    payloads = [json.loads(data) for _, data in got[:-1]]
    assert [p["message_type"] for p in payloads] == ["assistant_message", "stop_reason", "usage_statistics"]
    assert payloads[0]["content"] == "All good." and payloads[0]["id"].startswith("message-")
    assert payloads[1]["stop_reason"] == "end_turn"
    assert payloads[2]["step_count"] == 1 and payloads[2]["run_ids"]
    # The finished run's stream can be read again.
    again = http.post(f"/v1/runs/{payloads[2]['run_ids'][0]}/stream", json={})
    assert [json.loads(d)["message_type"] for _, d in frames(again.text)[:-1]] == [
        "assistant_message",
        "stop_reason",
        "usage_statistics",
    ]


def test_a_long_token_stream_reassembles_exactly(http: httpx.Client, agent_id: str, fake_llm: FakeLLM) -> None:
    text = " ".join(f"word{i}" for i in range(600))  # the fake model streams it in one fast burst
    fake_llm.reply(text)
    response = http.post(f"/v1/agents/{agent_id}/messages/stream", json={"input": "hi", "stream_tokens": True})
    deltas = [json.loads(d) for _, d in frames(response.text)[:-1]]
    deltas = [d for d in deltas if d["message_type"] == "assistant_message"]
    assert len(deltas) > 100
    assert "".join(d["content"] for d in deltas) == text


def test_a_memgpt_reply_streams_as_assistant_deltas_decoded_from_send_message(
    http: httpx.Client, fake_llm: FakeLLM
) -> None:
    agent = http.post("/v1/agents/", json={"model": "openai/gpt-4o-mini", "agent_type": "memgpt_v2_agent"}).json()
    reply = 'Hi "friend" — caf\u00e9\\path\nnew line, 🐢 and more words to split over pieces'
    fake_llm.push(Reply(text="Greet them.", tool_calls=[ToolCall("send_message", {"message": reply})]))
    response = http.post(f"/v1/agents/{agent['id']}/messages/stream", json={"input": "hi", "stream_tokens": True})
    payloads = [json.loads(d) for _, d in frames(response.text)[:-1]]
    replies = [p for p in payloads if p["message_type"] == "assistant_message"]
    assert len(replies) > 3, "the reply arrives in pieces as the model writes the call's arguments"
    assert "".join(p["content"] for p in replies) == reply  # decoded exactly, escapes split across pieces included
    assert len({p["id"] for p in replies}) == 1
    thoughts = [p for p in payloads if p["message_type"] == "reasoning_message"]
    assert "".join(p["reasoning"] for p in thoughts) == "Greet them."
    assert {p["otid"] for p in replies}.isdisjoint({p["otid"] for p in thoughts})
    # Read back whole, the same message carries the same reply once.
    stored = http.get(f"/v1/agents/{agent['id']}/messages").json()
    assert [m["content"] for m in stored if m["message_type"] == "assistant_message"] == [reply]
    assert replies[0]["id"] in {m["id"] for m in stored}


def test_a_failed_run_streams_an_error_event(http: httpx.Client, agent_id: str, fake_llm: FakeLLM) -> None:
    fake_llm.error(400)
    response = http.post(f"/v1/agents/{agent_id}/messages", json={"input": "hi", "streaming": True})
    got = frames(response.text)
    assert [event for event, _ in got] == ["error", None]
    error = json.loads(got[0][1])
    assert error["message_type"] == "error_message" and error["error_type"] == "llm_api_error"
    assert got[1][1] == "[DONE]"


def test_a_failed_sync_send_is_a_502_not_to_be_retried(http: httpx.Client, agent_id: str, fake_llm: FakeLLM) -> None:
    fake_llm.error(400)
    response = http.post(f"/v1/agents/{agent_id}/messages", json={"input": "hi"})
    assert response.status_code == 502
    assert response.headers["x-should-retry"] == "false"
    assert response.json()["detail"].startswith("The model provider failed")


def test_a_provider_failure_reaches_the_client_as_a_short_reason(
    http: httpx.Client, agent_id: str, fake_llm: FakeLLM
) -> None:
    """What the provider said (litellm's text, the internal base URL, an echo of the key) stays in the log."""
    reason = "the model provider returned 401 (authentication failed)"
    fake_llm.error(401, "Incorrect API key provided: sk-abc***xyz").error(401, "Incorrect API key provided: sk-abc")
    sync = http.post(f"/v1/agents/{agent_id}/messages", json={"input": "hi"})
    assert sync.status_code == 502
    assert sync.json()["detail"] == f"The model provider failed: {reason}"
    streamed = http.post(f"/v1/agents/{agent_id}/messages", json={"input": "hi", "streaming": True})
    error = json.loads(frames(streamed.text)[0][1])
    assert (error["error_type"], error["detail"]) == ("llm_api_error", reason)
    for body in (sync.text, streamed.text):
        for leak in ("litellm", "Traceback", "sk-abc", fake_llm.url, "Exception"):
            assert leak not in body, (leak, body)


def test_an_oversize_body_is_413_on_the_live_server(http: httpx.Client, agent_id: str) -> None:
    response = http.post(f"/v1/agents/{agent_id}/archival-memory", json={"text": "x" * (11 * 1024 * 1024)})
    assert response.status_code == 413
    assert "exceeds" in response.json()["detail"]


def test_the_server_reuses_database_connections_across_requests(http: httpx.Client, agent_id: str) -> None:
    """Under daphne every request runs in a thread of its own; a per-thread connection would mean a new database
    session per request. PostgreSQL: the pool (config/settings.py) lends the same few connections out again."""
    from django.db import connection

    if connection.vendor != "postgresql":
        assert "pool" not in connection.settings_dict.get("OPTIONS", {})  # SQLite opens a file: nothing to pool
        return

    def sessions() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            return int(cursor.fetchone()[0])

    time.sleep(1.5)  # session statistics reach pg_stat_database within a second
    before = sessions()
    for _ in range(30):
        assert http.get(f"/v1/agents/{agent_id}").status_code == 200
    time.sleep(1.5)
    assert sessions() - before < 10  # 30 requests, at most a pool's worth of new sessions
