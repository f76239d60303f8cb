"""Public ids on the wire are `<prefix>-<uuid>` (Letta's convention); rows use bare UUID primary keys.

The only place that builds or parses them: tests/lib/test_ids.py fails when a hand-built `f"agent-{…}"` or a
hand-stripped `.removeprefix("agent-")` appears anywhere else in the tree."""

import uuid
from typing import Literal, get_args

from django.utils.crypto import salted_hmac
from rest_framework.exceptions import NotFound

IdPrefix = Literal[
    "agent",
    "agent-env",
    "block",
    "file",
    "file_agent",
    "identity",
    "message",
    "passage",
    "run",
    "source",
    "step",
    "tool",
    "user",
]
PREFIXES: tuple[IdPrefix, ...] = get_args(IdPrefix)


def public_id(prefix: IdPrefix, value: uuid.UUID | str) -> str:
    return f"{prefix}-{value}"


def public_id_or_none(prefix: IdPrefix, value: uuid.UUID | str | None) -> str | None:
    return public_id(prefix, value) if value else None


def parse_id(prefix: IdPrefix, raw: str) -> uuid.UUID:
    """The UUID inside `<prefix>-<uuid>` (a bare UUID is accepted too); a malformed id is a 404, like a missing one."""
    text = raw[len(prefix) + 1 :] if raw.startswith(f"{prefix}-") else raw
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound(f"{prefix.capitalize()} {raw} not found") from None


def local_id(prefix: IdPrefix, index: int) -> str:
    """An id that only means something inside one agent file (`message-0`, `block-3`): Letta's .af files number
    the rows they carry, and the importer maps them to new rows."""
    return f"{prefix}-{index}"


def user_public_id(user_id: int | None) -> str | None:
    """`user-<uuid>` for a Django user. Users have integer keys, which would tell a client how many accounts the
    server has and let it guess its neighbours' ids; the wire carries a keyed hash of the key instead (stable as
    long as SECRET_KEY is; nothing on the wire takes a user id back)."""
    if user_id is None:
        return None
    digest = salted_hmac("engram.lib.ids.user_public_id", str(user_id), algorithm="sha256").digest()
    return public_id("user", uuid.UUID(bytes=digest[:16]))
