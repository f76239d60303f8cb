"""Public ids on the wire are `<prefix>-<uuid4>` (Letta's convention); rows use bare UUID primary keys."""

import uuid

from rest_framework.exceptions import NotFound


def public_id(prefix: str, value: uuid.UUID | str) -> str:
    return f"{prefix}-{value}"


def parse_id(prefix: str, raw: str) -> uuid.UUID:
    """The UUID inside `<prefix>-<uuid>` (a bare UUID is accepted too); a malformed id is a 404, like a missing one."""
    text = raw[len(prefix) + 1 :] if raw.startswith(f"{prefix}-") else raw
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound(f"{prefix.capitalize()} {raw} not found") from None
