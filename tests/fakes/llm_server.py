"""A real HTTP server speaking enough of the OpenAI API for tests.

Usage::

    with FakeLLM() as fake:
        fake.reply("hello").tool_call("search", {"q": "cats"})
        litellm.completion(model="openai/gpt-4o-mini", api_base=fake.base_url, api_key="x", ...)
        assert fake.last_chat()["messages"][0]["content"] == ...

Chat requests consume scripted replies in FIFO order; when the queue is empty,
``fake.default`` answers (text "ok" unless changed).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

JSON = dict[str, Any]


@dataclass
class ToolCall:
    name: str
    arguments: JSON | str  # a str is sent verbatim (may be malformed JSON)
    id: str | None = None

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Reply:
    """One scripted answer to a chat-completion request."""

    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str | None = None
    delay: float = 0.0  # seconds to wait before answering
    chunk_delay: float = 0.0  # seconds between streamed chunks
    error_status: int | None = None
    error_body: JSON | None = None
    # Cut the answer mid-way: close the connection after this many stream chunks (a streamed request) or after
    # half the JSON body (a plain one), as a provider or proxy that dies mid-response does.
    cut_after: int | None = None


ReplySpec = Reply | str
Responder = Callable[[JSON], ReplySpec]
ScriptItem = ReplySpec | Responder


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: JSON | None
    headers: dict[str, str]


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_exceeded",
}


def _estimate_tokens(chars: int) -> int:
    return max(1, math.ceil(chars / 4))


def _prompt_chars(body: JSON) -> int:
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(str(part.get("text", ""))) for part in content if isinstance(part, dict))
        for call in message.get("tool_calls") or []:
            total += len(str(call.get("function", {}).get("arguments", "")))
    return total


def _embed(text: str, dim: int) -> list[float]:
    """Hashed bag of words, L2-normalised: deterministic, similar texts are similar."""
    vec = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        vec[value % dim] += 1.0 if (value >> 32) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0.0:
        return [1.0] + [0.0] * (dim - 1)
    return [x / norm for x in vec]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a benchmark's hundreds of runs connect at once (the default backlog is 5)
    fake: FakeLLM

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a killed worker mid-request) is routine here, not worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") else path

    def do_GET(self) -> None:
        self.server.fake._record(self.command, self.path, None, dict(self.headers))
        if self._route() == "/models":
            models = [
                {
                    "id": "gpt-4o-mini",
                    "object": "model",
                    "created": 0,
                    "owned_by": "fake",
                }
            ]
            self._send_json(200, {"object": "list", "data": models})
        else:
            self._send_json(404, _error_body(404, f"Unknown path {self.path}"))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, _error_body(400, "Request body is not valid JSON"))
            return
        fake = self.server.fake
        fake._record(self.command, self.path, body, dict(self.headers))
        route = self._route()
        if route == "/_fake/default":
            fake.default = _reply_from_json(body)
            self._send_json(200, {"ok": True})
        elif route == "/chat/completions":
            self._chat(body, fake._next_reply(body))
        elif route == "/embeddings":
            self._send_json(200, fake._embeddings(body))
        else:
            self._send_json(404, _error_body(404, f"Unknown path {self.path}"))

    def _send_json(self, status: int, payload: JSON) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chat(self, body: JSON, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.error_status is not None:
            self._send_json(
                reply.error_status,
                reply.error_body or _error_body(reply.error_status, "error"),
            )
            return
        fake = self.server.fake
        cid = f"chatcmpl-fake{next(fake._ids)}"
        model = str(body.get("model", "gpt-4o-mini"))
        calls = [(c.id or f"call_fake{next(fake._ids)}", c) for c in reply.tool_calls]
        finish = "tool_calls" if calls else "stop"
        completion_chars = len(reply.text or "") + len(reply.reasoning or "")
        completion_chars += sum(len(c.name) + len(c.arguments_json()) for _, c in calls)
        prompt, completion = (
            _estimate_tokens(_prompt_chars(body)),
            _estimate_tokens(completion_chars),
        )
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if not body.get("stream"):
            message: JSON = {
                "role": "assistant",
                "content": reply.text,
                "refusal": None,
            }
            if reply.reasoning is not None:
                message["reasoning_content"] = reply.reasoning
            if calls:
                message["tool_calls"] = [
                    {
                        "id": i,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments_json()},
                    }
                    for i, c in calls
                ]
            choice = {
                "index": 0,
                "message": message,
                "finish_reason": finish,
                "logprobs": None,
            }
            payload = {
                "id": cid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [choice],
                "usage": usage,
            }
            if reply.cut_after is not None:
                self._send_cut(json.dumps(payload).encode())
                return
            self._send_json(200, payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        for n, event in enumerate(_stream_events(cid, model, reply, calls, finish, usage if include_usage else None)):
            if n and reply.chunk_delay:
                time.sleep(reply.chunk_delay)
            if reply.cut_after is not None and n >= reply.cut_after:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            data = f"data: {event}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def _send_cut(self, data: bytes) -> None:
        """Promise the whole body, send half of it, and hang up."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


def _reply_from_json(spec: JSON) -> Reply:
    """A Reply from the control endpoint's JSON (POST /_fake/default): Reply's fields, with `tool_calls` as
    [[name, arguments], ...] and an error as error_status plus optional error_message / error_code."""
    status = spec.get("error_status")
    body = None
    if status is not None:
        body = _error_body(int(status), str(spec.get("error_message") or "error"), spec.get("error_code"))
    return Reply(
        text=spec.get("text"),
        tool_calls=[ToolCall(str(name), args) for name, args in spec.get("tool_calls") or []],
        reasoning=spec.get("reasoning"),
        delay=float(spec.get("delay") or 0.0),
        chunk_delay=float(spec.get("chunk_delay") or 0.0),
        error_status=None if status is None else int(status),
        error_body=body,
        cut_after=spec.get("cut_after"),
    )


def _stream_events(
    cid: str,
    model: str,
    reply: Reply,
    calls: list[tuple[str, ToolCall]],
    finish: str,
    usage: JSON | None,
) -> Iterator[str]:
    created = int(time.time())

    def chunk(delta: JSON, finish_reason: str | None = None) -> str:
        choice = {
            "index": 0,
            "delta": delta,
            "finish_reason": finish_reason,
            "logprobs": None,
        }
        return json.dumps(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [choice],
            }
        )

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in re.findall(r"\s*\S+\s*", reply.reasoning or ""):
        yield chunk({"reasoning_content": piece})
    for piece in re.findall(r"\s*\S+\s*", reply.text or ""):
        yield chunk({"content": piece})
    for index, (call_id, call) in enumerate(calls):
        head = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield chunk({"tool_calls": [head]})
        args = call.arguments_json()
        for start in range(0, len(args), 8):
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "function": {"arguments": args[start : start + 8]},
                        }
                    ]
                }
            )
    yield chunk({}, finish)
    if usage is not None:
        yield json.dumps(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
        )
    yield "[DONE]"


def _error_body(status: int, message: str, code: str | None = None, type_: str | None = None) -> JSON:
    kind = type_ or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class FakeLLM:
    """Scriptable OpenAI-compatible server on 127.0.0.1 (free port)."""

    def __init__(self) -> None:
        self.embedding_dim = 8
        self.default: ScriptItem = Reply(text="ok")
        self._script: deque[ScriptItem] = deque()
        self._requests: list[RecordedRequest] = []
        self.keep_history = True  # off: nothing is recorded (a long benchmark's history would only grow)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> Self:
        if self._server is None:
            self._server = _Server(("127.0.0.1", 0), _Handler)
            self._server.fake = self
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                args=(0.05,),
                name="FakeLLM",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeLLM is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # -- scripting (each returns self so calls chain) ---------------------
    def push(self, item: ScriptItem) -> FakeLLM:
        """Queue a Reply, a plain text, or a callable(request_json) -> Reply | str."""
        with self._lock:
            self._script.append(item)
        return self

    def reply(
        self,
        text: str = "ok",
        *,
        reasoning: str | None = None,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
    ) -> FakeLLM:
        return self.push(Reply(text=text, reasoning=reasoning, delay=delay, chunk_delay=chunk_delay))

    def tool_call(
        self,
        name: str,
        arguments: JSON | str,
        id: str | None = None,
        *,
        text: str | None = None,
        delay: float = 0.0,
    ) -> FakeLLM:
        return self.push(Reply(text=text, tool_calls=[ToolCall(name, arguments, id)], delay=delay))

    def tool_calls(
        self,
        calls: list[tuple[str, JSON | str]],
        *,
        text: str | None = None,
        reasoning: str | None = None,
        delay: float = 0.0,
    ) -> FakeLLM:
        tool_calls = [ToolCall(name, args) for name, args in calls]
        return self.push(Reply(text=text, tool_calls=tool_calls, reasoning=reasoning, delay=delay))

    def error(
        self,
        status: int = 500,
        message: str = "The server had an error",
        code: str | None = None,
        *,
        error_type: str | None = None,
        delay: float = 0.0,
    ) -> FakeLLM:
        body = _error_body(status, message, code, error_type)
        return self.push(Reply(error_status=status, error_body=body, delay=delay))

    def context_overflow(self) -> FakeLLM:
        message = (
            "This model's maximum context length is 128000 tokens. However, your messages resulted in "
            "130000 tokens. Please reduce the length of the messages."
        )
        return self.error(400, message, "context_length_exceeded")

    # -- recording -------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[JSON]:
        return [r.body for r in self.requests if r.path.rstrip("/").endswith("/chat/completions") and r.body]

    def last_chat(self) -> JSON:
        chats = self.chat_requests()
        if not chats:
            raise AssertionError("FakeLLM received no chat-completion request")
        return chats[-1]

    def pending(self) -> int:
        """Number of scripted replies not yet consumed."""
        with self._lock:
            return len(self._script)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self.default = Reply(text="ok")

    # -- internals (called from handler threads) --------------------------
    def _record(self, method: str, path: str, body: JSON | None, headers: dict[str, str]) -> None:
        if not self.keep_history:
            return
        with self._lock:
            self._requests.append(RecordedRequest(method, path, body, headers))

    def _next_reply(self, body: JSON) -> Reply:
        with self._lock:
            item = self._script.popleft() if self._script else self.default
        spec = item if isinstance(item, (Reply, str)) else item(body)
        return Reply(text=spec) if isinstance(spec, str) else spec

    def _embeddings(self, body: JSON) -> JSON:
        inputs = body.get("input", "")
        texts = [inputs] if isinstance(inputs, str) else [str(x) for x in inputs]
        dim = int(body.get("dimensions") or self.embedding_dim)
        data: list[JSON] = []
        for index, text in enumerate(texts):
            vector = _embed(text, dim)
            embedding: list[float] | str = vector
            if body.get("encoding_format") == "base64":  # the openai SDK asks for this by default
                embedding = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = _estimate_tokens(sum(len(t) for t in texts))
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "text-embedding-3-small"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def serve_in_subprocess() -> tuple[Any, str]:
    """Start a FakeLLM answering its default reply in a process of its own (benchmarks: a real provider is
    another process, and an in-process one would take the measured process's CPU and GIL). Returns the process
    and the base URL; closing the process's stdin stops it."""
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "tests.fakes.llm_server"],
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


if __name__ == "__main__":
    import sys

    fake = FakeLLM()
    fake.keep_history = False  # a process of its own serves benchmarks: no endpoint reads its history
    fake.start()
    print(fake.base_url, flush=True)
    sys.stdin.read()  # until the parent closes it (or exits)
    fake.stop()
