"""Where the server may open a connection on a user's (or a model's) behalf (MCP servers, fetch_webpage): the one
home of the address rules.

A URL a member types must not let them reach what only the server can: its loopback, the private network it sits
in, link-local addresses (cloud metadata at 169.254.169.254) and other reserved ranges. Each caller passes whether
its operator allowed private addresses (`ENGRAM_MCP_ALLOW_PRIVATE`, `ENGRAM_FETCH_ALLOW_PRIVATE`, …). A host name
is refused when any address it resolves to is refused, and the check runs again at every connection (and every
redirect, when the caller checks each request), so a name that changes its answer later is caught then too.
"""

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx


class AddressRefused(Exception):
    """The URL is malformed, or names an address the server may not connect to; the message says which."""


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def url_host(url: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """The host of an absolute URL of one of `schemes`; anything else is AddressRefused."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        raise AddressRefused("is not a valid URL") from None
    if parts.scheme not in schemes:
        raise AddressRefused(f"must be an {' or '.join(schemes)} URL")
    if not parts.hostname:
        raise AddressRefused("must name a host")
    if parts.username or parts.password:
        raise AddressRefused("must not hold a user name or password (use a header)")
    return parts.hostname


def check_host(host: str, *, allow_private: bool, setting: str) -> None:
    """Refuse a host that is, or resolves to, a non-public address (unless `allow_private`). `setting` names the
    environment variable that allows them, for the message."""
    if allow_private:
        return
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise AddressRefused(f"the host {host!r} cannot be resolved") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:
        if _refused(address):
            raise AddressRefused(
                f"{host} is a private, loopback or reserved address ({address}), which this server does not "
                f"connect to (set {setting}=1 to allow it)"
            )


def check_url(url: str, *, allow_private: bool, setting: str) -> None:
    """url_host + check_host: the one check before connecting to a member's URL."""
    check_host(url_host(url), allow_private=allow_private, setting=setting)


MAX_REDIRECTS = 5


def checked_get(
    url: str,
    *,
    allow_private: bool,
    setting: str,
    timeout: float,
    max_bytes: int,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, bytes]:
    """GET `url` following at most MAX_REDIRECTS redirects, every hop checked by `check_url`; the body is read up to
    `max_bytes` (more is AddressRefused). Returns the final response (body not loaded) and the body."""
    with httpx.Client(timeout=timeout, follow_redirects=False, headers=headers) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, allow_private=allow_private, setting=setting)
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
    raise AddressRefused(f"more than {MAX_REDIRECTS} redirects")
