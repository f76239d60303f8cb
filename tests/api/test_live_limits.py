"""What daphne (the real server process) answers to a chunked request body and to a very long URL, read as raw
HTTP over a socket: a body without Content-Length is read (within ENGRAM_MAX_BODY_BYTES), and a request line past
the server's 16 KB line limit gets a 414 instead of a dropped connection."""

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from accounts.services import apikey_create
from memory.models import Block
from tests.live import LiveServer

pytestmark = pytest.mark.slow


def exchange(server: LiveServer, raw: bytes, timeout: float = 60) -> bytes:
    """Send `raw` and read until the server closes the connection (every request here asks it to)."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def chunked(body: bytes, size: int = 1000) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@pytest.fixture
def key(daphne_server: LiveServer, alice: Any) -> str:
    return apikey_create(user=alice, name="raw").raw_key


def post_chunked(server: LiveServer, key: str, body: bytes) -> bytes:
    head = (
        "POST /v1/blocks/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return exchange(server, head.encode() + chunked(body))


def test_a_chunked_json_body_is_read(daphne_server: LiveServer, key: str) -> None:
    body = json.dumps({"label": "notes", "value": "sent in chunks " * 200}).encode()
    response = post_chunked(daphne_server, key, body)
    assert response.startswith(b"HTTP/1.1 200"), response[:500]
    assert Block.objects.get(label="notes").value == "sent in chunks " * 200


def test_a_chunked_body_past_the_limit_is_a_413(daphne_server: LiveServer, key: str) -> None:
    from django.conf import settings

    filler = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    response = post_chunked(daphne_server, key, json.dumps({"label": "big", "value": filler}).encode())
    assert response.startswith(b"HTTP/1.1 413"), response[:500]
    assert b"exceeds the limit" in response
    assert not Block.objects.filter(label="big").exists()


def test_a_very_long_url_gets_a_414(daphne_server: LiveServer) -> None:
    request = f"GET /v1/health/?q={'a' * 100_000} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    response = exchange(daphne_server, request.encode())
    assert response.startswith(b"HTTP/1.1 414"), response[:500]
    assert b"URL" in response
    # The server is still there for the next client.
    ok = exchange(daphne_server, b"GET /v1/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200"), ok[:500]


def test_a_header_line_past_the_limit_gets_a_431(daphne_server: LiveServer) -> None:
    request = f"GET /v1/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'b' * 20_000}\r\nConnection: close\r\n\r\n"
    response = exchange(daphne_server, request.encode())
    assert response.startswith(b"HTTP/1.1 431"), response[:500]
