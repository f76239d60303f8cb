"""daphne answers an over-long request line or header line with nothing at all: Twisted's HTTP channel drops the
connection when a line passes its 16 KB limit (`LineReceiver.lineLengthExceeded`). This gives such a client a
response saying why (414 for the request line, that is the URL; 431 for a header) before closing.

Installed from config/asgi.py, which daphne imports in its own process; there is no setting or subclass hook
for it, since daphne builds Twisted's channel itself."""

from typing import Any

_BODY = {
    b"414 URI Too Long": b'{"detail": "The URL is longer than the server accepts (16 KB)."}',
    b"431 Request Header Fields Too Large": b'{"detail": "A request header is longer than the server takes (16 KB)."}',
}


def _line_too_long(channel: Any, line: bytes) -> None:
    # Twisted's channel sets its private first-line flag to 0 once the request line has been read.
    on_request_line = bool(getattr(channel, "_HTTPChannel__first_line", 1))
    status = b"414 URI Too Long" if on_request_line else b"431 Request Header Fields Too Large"
    body = _BODY[status]
    channel.transport.write(
        b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
        % (status, len(body), body)
    )
    channel.loseConnection()


def install_line_limit_responses() -> None:
    try:
        from twisted.web import http
    except ImportError:  # not under daphne (tests' ASGI client, a WSGI server)
        return
    setattr(http.HTTPChannel, "lineLengthExceeded", _line_too_long)  # noqa: B010 (the method of a library class)
