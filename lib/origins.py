"""The Origin check for websockets. Channels' AllowedHostsOriginValidator compares host names only, so a page
served on another port of the same host (another app on localhost:9999) could open sockets with the user's
cookies. This one requires the Origin to be this site, as Django's CSRF check does for forms: the same scheme,
host and port as the request (its Host header, which must be in ALLOWED_HOSTS), or one of CSRF_TRUSTED_ORIGINS
(behind a TLS proxy the browser says https:// while daphne sees plain ws://)."""

from typing import Any
from urllib.parse import SplitResult, urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _key(url: SplitResult) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in; None for anything that is not http(s)."""
    try:
        port = url.port
    except ValueError:
        return None
    if url.scheme not in DEFAULT_PORTS or not url.hostname:
        return None
    return url.scheme, url.hostname.lower(), port or DEFAULT_PORTS[url.scheme]


def origin_allowed(*, origin: str, host: str, secure: bool) -> bool:
    wanted = _key(urlsplit(origin))
    if wanted is None:
        return False
    if any(_key(urlsplit(trusted)) == wanted for trusted in settings.CSRF_TRUSTED_ORIGINS):
        return True
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    return _key(urlsplit(f"{'https' if secure else 'http'}://{host}")) == wanted


class SameOriginValidator:
    """ASGI middleware for the websocket router: refuses (before any consumer runs) a socket whose Origin is not
    this site. A socket without an Origin header is refused too: browsers always send one."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if origin and host and origin_allowed(origin=origin, host=host, secure=scope.get("scheme") == "wss"):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
