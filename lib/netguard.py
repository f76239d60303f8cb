"""Where the server itself may connect on a user's (or a model's) behalf: never to loopback, private, link-local
or other non-public addresses, unless the operator allows it (tests, single-user machines). One rule for every
outbound fetch that a member or a model chooses the address of (fetch_webpage, MCP servers, …).

The check resolves the host name and refuses when any of its addresses is not public; the caller connects right
after, so a name that changes its answer in between (DNS rebinding) is the remaining gap, narrowed by also checking
every redirect hop (`checked_get`)."""

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx


class AddressRefused(Exception):
    """The URL may not be fetched; the message says why (for the caller to show)."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise AddressRefused unless `url` is http(s) to a host whose every address is public (or private ones are
    allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("only http:// and https:// URLs can be fetched")
    host = parts.hostname
    if not host:
        raise AddressRefused("the URL has no host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError):
        raise AddressRefused(f"the host {host!r} could not be resolved") from None
    for info in infos:
        if not _public(str(info[4][0])):
            raise AddressRefused(f"the host {host!r} is a private, loopback or otherwise non-public address")


def checked_get(
    url: str, *, allow_private: bool, timeout: float, max_bytes: int, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, bytes]:
    """GET `url` following at most 5 redirects, each hop checked by `check_url`; the body is read up to
    `max_bytes` (more is an error). Returns the final response (body not loaded) and the body."""
    with httpx.Client(timeout=timeout, follow_redirects=False, headers=headers) as client:
        for _ in range(6):
            check_url(url, allow_private=allow_private)
            with client.stream("GET", url) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise AddressRefused(f"the response is larger than {max_bytes} bytes")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise AddressRefused(f"the response is larger than {max_bytes} bytes")
                return response, bytes(body)
    raise AddressRefused("too many redirects")
