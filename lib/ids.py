"""Public ids on the wire are `<prefix>-<uuid>` (Letta's convention); rows use bare UUID primary keys.

The only place that builds or parses them: tests/lib/test_ids.py fails when a hand-built `f"agent-{…}"` or a
hand-stripped `.removeprefix("agent-")` appears anywhere else in the tree."""

import os
import secrets
import threading
import time
import uuid
from typing import Literal, get_args

from django.utils.crypto import salted_hmac
from rest_framework.exceptions import NotFound

IdPrefix = Literal[
    "agent",
    "agent-env",
    "archive",
    "block",
    "conv",
    "file",
    "file_agent",
    "identity",
    "mcp_server",
    "message",
    "passage",
    "provider",
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


# -- time-ordered primary keys ----------------------------------------------------------------------------------

_RANDOM_BITS = 74
_ordered_lock = threading.Lock()
_ordered_last = 0  # (milliseconds << 74) | random bits of the last value this process made
_ordered_pid = os.getpid()


def ordered_uuid() -> uuid.UUID:
    """A UUIDv7 (RFC 9562: Unix milliseconds, then 74 random bits), each one greater than the last this process
    made (within a millisecond, the previous value plus a random step; RFC 9562's method 3). Rows ordered by
    (created_at, id) therefore keep the order they were written in when their times are equal: a batch insert,
    or a session's turns imported with one shared time."""
    global _ordered_last, _ordered_lock, _ordered_pid
    if os.getpid() != _ordered_pid:
        # A forked child starts afresh: a lock held by another thread at the fork would never be released, and two
        # processes stepping on from one state could make the same value.
        _ordered_lock, _ordered_last, _ordered_pid = threading.Lock(), 0, os.getpid()
    with _ordered_lock:
        value = ((time.time_ns() // 1_000_000) << _RANDOM_BITS) | secrets.randbits(_RANDOM_BITS)
        if value <= _ordered_last:
            value = _ordered_last + 1 + secrets.randbits(32)
        _ordered_last = value
    millis, rand = value >> _RANDOM_BITS, value & ((1 << _RANDOM_BITS) - 1)
    return uuid.UUID(
        int=(millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    )
