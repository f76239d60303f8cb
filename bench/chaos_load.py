"""The steady load of bench/chaos.py: client threads that each send to one agent (or one conversation of it),
synchronously, streamed (SSE) or async (a run to poll), the way an SDK client does: every user message carries
an `otid`, and a send that fails on the way (connection lost, 5xx, 429) is sent again with the same otid, at
most `RETRIES` times, as letta-client retries. Each send is recorded with what the client saw."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

RETRIES = 3  # after the first attempt (letta-client's default is 2; one more rides out a restart)
BACKOFF = 1.0
TERMINAL = {"completed", "failed", "cancelled"}


@dataclass
class Send:
    client: str
    mode: str
    text: str
    otid: str
    started: float
    accepted: bool = False  # the server took the message: a 2xx answer, or a stream that began
    run_id: str = ""
    outcome: str = ""  # what the client finally saw: completed, failed:<reason>, error:<kind>
    attempts: int = 0
    errors: list[str] = field(default_factory=list)  # every failed attempt's kind, retried or not
    finished: float = 0.0


@dataclass(frozen=True)
class Target:
    name: str
    mode: str  # sync | stream | async | conversation
    agent_id: str
    headers: dict[str, str]
    conversation_id: str = ""


class Client(threading.Thread):
    """Sends to one target until stopped, `pause` seconds apart; `sends` holds every send made."""

    def __init__(self, base_url: str, target: Target, tag: str, pause: float, stop: threading.Event) -> None:
        super().__init__(name=f"client-{target.name}", daemon=True)
        self.base_url = base_url
        self.target = target
        self.tag = tag
        self.pause = pause
        self.stop_event = stop
        self.sends: list[Send] = []
        self.http = httpx.Client(base_url=base_url, headers=target.headers, timeout=httpx.Timeout(60, connect=5))

    def run(self) -> None:
        number = 0
        try:
            while not self.stop_event.is_set():
                number += 1
                self.send_one(f"chaos {self.tag} {self.target.name} #{number} {uuid.uuid4().hex[:8]}")
                self.stop_event.wait(self.pause)
        finally:
            self.http.close()

    def send_one(self, text: str) -> Send:
        send = Send(self.target.name, self.target.mode, text, str(uuid.uuid4()), time.monotonic())
        self.sends.append(send)
        for attempt in range(RETRIES + 1):
            send.attempts = attempt + 1
            kind = self._attempt(send)
            if kind is None:
                break
            send.errors.append(kind)
            gives_up = attempt == RETRIES or self.stop_event.is_set()
            if gives_up or kind.startswith("http 4") and kind != "http 429":
                send.outcome = f"error:{kind}"
                break
            time.sleep(BACKOFF * (attempt + 1))
        send.finished = time.monotonic()
        return send

    # -- one attempt: None when the send reached its end, else the kind of error the client saw -------------

    def _attempt(self, send: Send) -> str | None:
        body = {"messages": [{"role": "user", "content": send.text, "otid": send.otid}]}
        agent = f"/v1/agents/{self.target.agent_id}"
        try:
            if self.target.mode == "sync":
                return self._json(send, self.http.post(f"{agent}/messages", json=body))
            if self.target.mode == "async":
                response = self.http.post(f"{agent}/messages/async", json=body)
                if response.status_code >= 300:
                    return f"http {response.status_code}"
                send.accepted = True
                send.run_id = response.json()["id"]
                return self._poll(send)
            if self.target.mode == "stream":
                return self._stream(send, f"{agent}/messages", {**body, "streaming": True})
            return self._stream(send, f"/v1/conversations/{self.target.conversation_id}/messages", body)
        except httpx.TimeoutException:
            return "timeout"
        except httpx.TransportError as exc:
            return f"connection: {type(exc).__name__}"
        except (ValueError, KeyError) as exc:
            return f"bad answer: {type(exc).__name__}"

    def _json(self, send: Send, response: httpx.Response) -> str | None:
        if response.status_code >= 300:
            return f"http {response.status_code}"
        send.accepted = True
        data = response.json()
        reason = (data.get("stop_reason") or {}).get("stop_reason", "")
        runs = {m.get("run_id") for m in data.get("messages", []) if m.get("run_id")}
        send.run_id = next(iter(runs), "")
        send.outcome = "completed" if reason in ("end_turn", "no_tool_call", "max_steps") else f"failed:{reason}"
        return None

    def _poll(self, send: Send) -> str | None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not self.stop_event.is_set():
            try:
                response = self.http.get(f"/v1/runs/{send.run_id}")
                if response.status_code == 200:
                    run = response.json()
                    if run.get("status") in TERMINAL:
                        status = run["status"]
                        send.outcome = "completed" if status == "completed" else f"failed:{run.get('stop_reason')}"
                        return None
            except httpx.TransportError:
                pass  # the server restarts: keep polling
            time.sleep(0.3)
        send.outcome = "error:run not ended when the client stopped waiting"
        return None

    def _stream(self, send: Send, path: str, body: dict[str, object]) -> str | None:
        with self.http.stream("POST", path, json=body) as response:
            if response.status_code >= 300:
                response.read()
                return f"http {response.status_code}"
            send.accepted = True
            event = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                    continue
                if not line.startswith("data:"):
                    continue
                data = line.removeprefix("data:").strip()
                if data == "[DONE]":
                    if not send.outcome:
                        send.outcome = "error:stream ended without a stop reason"
                    return None
                frame = json.loads(data)
                if not isinstance(frame, dict):
                    continue
                send.run_id = send.run_id or str(frame.get("run_id") or "")
                kind = frame.get("message_type")
                if kind == "stop_reason":
                    reason = frame.get("stop_reason")
                    send.outcome = (
                        "completed" if reason in ("end_turn", "no_tool_call", "max_steps") else f"failed:{reason}"
                    )
                elif kind == "error_message" or event == "error":
                    send.outcome = f"failed:{frame.get('error_type') or 'error'}"
        return "stream cut" if not send.outcome else None


def error_kinds(sends: list[Send]) -> Counter[str]:
    """Errors clients saw, by kind: every failed attempt (retried ones too) and every failed end."""
    kinds: Counter[str] = Counter()
    for send in sends:
        for kind in send.errors:
            kinds[_short(kind)] += 1
        if send.outcome.startswith("failed:"):
            kinds[f"run {send.outcome}"] += 1
    return kinds


def _short(kind: str) -> str:
    return kind if len(kind) < 40 else kind[:37] + "..."
