"""What it takes to reach one stored MCP server: its transport, command or URL, and its decrypted credentials.

Credentials (a stdio server's environment, the auth token, custom header values) are stored as one Fernet token
(lib.crypto) and leave the server only masked (`mask`)."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from agents.models import MCPServer
from lib.crypto import decrypt, encrypt

MASK = "****"


@dataclass(frozen=True)
class Credentials:
    env: dict[str, str]
    auth_token: str
    custom_headers: dict[str, str]

    def to_token(self) -> str:
        if not (self.env or self.auth_token or self.custom_headers):
            return ""
        payload = {"env": self.env, "auth_token": self.auth_token, "custom_headers": self.custom_headers}
        return encrypt(json.dumps(payload, sort_keys=True))


def credentials(server: MCPServer) -> Credentials:
    if not server.secrets_encrypted:
        return Credentials({}, "", {})
    data: dict[str, Any] = json.loads(decrypt(server.secrets_encrypted))
    return Credentials(
        dict(data.get("env") or {}), str(data.get("auth_token") or ""), dict(data.get("custom_headers") or {})
    )


def mask(value: str) -> str:
    """A secret as the API and the ADE show it: its last four characters when it is long enough to keep the rest
    hidden, else nothing of it."""
    return MASK + value[-4:] if len(value) >= 16 else MASK


def auth_header_value(header: str, token: str) -> str:
    """An Authorization token without a scheme is a bearer token."""
    if header.lower() == "authorization" and " " not in token.strip():
        return f"Bearer {token}"
    return token


@dataclass(frozen=True)
class ServerSpec:
    server_id: uuid.UUID
    kind: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """Changes whenever anything used to connect does: a connection opened for an older key is closed."""
        raw = json.dumps([self.kind, self.command, self.args, self.env, self.url, self.headers])
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def label(self) -> str:
        return self.command if self.kind == MCPServer.Kind.STDIO else self.url


def spec_for(server: MCPServer) -> ServerSpec:
    creds = credentials(server)
    headers = dict(creds.custom_headers)
    if creds.auth_token:
        name = server.auth_header or "Authorization"
        headers[name] = auth_header_value(name, creds.auth_token)
    return ServerSpec(
        server_id=server.id,
        kind=server.kind,
        command=server.command,
        args=tuple(str(a) for a in server.args or []),
        env=tuple(sorted(creds.env.items())),
        url=server.server_url,
        headers=tuple(sorted(headers.items())),
    )
