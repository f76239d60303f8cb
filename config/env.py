"""Typed readers for settings that come from the environment.

Each raises ImproperlyConfigured naming the variable when its value is malformed, so a bad deployment stops
at start-up with a message instead of misbehaving later.
"""

import ipaddress
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, default: str = "") -> str:
    """Read NAME, or the contents of the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE names a file that cannot be read: {exc}") from None
    return os.environ.get(name, default)


def env_url(name: str, schemes: tuple[str, ...]) -> str:
    raw = os.environ.get(name, "").strip()
    if raw and not any(raw.startswith(f"{scheme}://") for scheme in schemes):
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ImproperlyConfigured(f"{name} must start with one of {allowed}, got {raw!r}")
    return raw


def proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """`Header-Name` or `Header-Name=value` (value `https` when left out): the header the TLS proxy sets on
    requests that reached it over HTTPS, as Django's SECURE_PROXY_SSL_HEADER. Unset: None."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    header, _, value = raw.partition("=")
    header, value = header.strip(), value.strip() or "https"
    if not header or not all(c.isalnum() or c == "-" for c in header):
        raise ImproperlyConfigured(f"{name} must be a header name, optionally =value (X-Forwarded-Proto), got {raw!r}")
    return "HTTP_" + header.upper().replace("-", "_"), value


def env_url_list(name: str, schemes: tuple[str, ...]) -> list[str]:
    """A comma-separated list of URLs, each starting with one of `schemes`."""
    urls = env_list(name, [])
    for url in urls:
        if not any(url.startswith(f"{scheme}://") for scheme in schemes):
            allowed = ", ".join(f"{s}://" for s in schemes)
            raise ImproperlyConfigured(f"{name} must list URLs starting with one of {allowed}, got {url!r}")
    return urls


def private_dir(path: Path) -> Path:
    """Creates the data directory closed to other users (0700), and closes one this user owns that is not: it holds
    the SQLite database and the generated secret key, and custom tools run as other users."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid == os.geteuid() and info.st_mode & 0o077:
        path.chmod(0o700)
    return path


def persistent_secret_key(data_dir: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data dir."""
    key = env_secret("SECRET_KEY")
    if key:
        return key
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    from django.core.management.utils import get_random_secret_key

    data_dir.mkdir(parents=True, exist_ok=True)
    key = get_random_secret_key()
    path.write_text(key)
    path.chmod(0o600)
    return key


_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def env_rate(name: str) -> tuple[int, int] | None:
    """A rate such as "600/minute" (or 10/s, 100/hour, 5000/day) as (requests, seconds); None when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    count, _, period = raw.partition("/")
    seconds = _PERIODS.get(period.strip().lower())
    if not count.strip().isdigit() or int(count) < 1 or seconds is None:
        raise ImproperlyConfigured(f"{name} must look like 600/minute (N/second|minute|hour|day), got {raw!r}")
    return int(count), seconds


def env_networks(name: str, default: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated addresses or networks (10.0.0.0/8, ::1); an empty value allows none."""
    raw = os.environ.get(name)
    items = default if raw is None else [part.strip() for part in raw.split(",") if part.strip()]
    try:
        return [ipaddress.ip_network(item, strict=False) for item in items]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must list IP addresses or networks: {exc}") from None
