"""Account events for open websockets. Every ADE socket also joins its user's group (`user.<id>`); these events
tell the sockets of a session that signed out, or of a user who was removed, deactivated or changed their password,
to close (ade.consumers). Sent after commit, like every channel-layer publish."""

import hashlib
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest


class SessionsEndEvent(TypedDict):
    type: Literal["account.sessions_end"]
    # Only this session's sockets (None: every session of the user), except the `keep` session's.
    session: str | None
    keep: str | None


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def session_tag(session_key: str | None) -> str | None:
    """A session's name on the channel layer: a digest, so a session key never travels through Redis."""
    if not session_key:
        return None
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


def _send(group: str, event: SessionsEndEvent) -> None:
    layer = get_channel_layer()
    if layer is not None:
        # Rare (sign-outs, removals), so a loop per event is fine; agents/runtime/events.py batches the busy events.
        async_to_sync(layer.group_send)(group, dict(event))


def sessions_end(*, user_id: int, session_key: str | None = None, keep_session_key: str | None = None) -> None:
    event: SessionsEndEvent = {
        "type": "account.sessions_end",
        "session": session_tag(session_key),
        "keep": session_tag(keep_session_key),
    }
    # robust: an unreachable channel layer is logged, not raised into the sign-out or removal that caused the
    # event (the consumers' own session re-check still ends those sockets).
    transaction.on_commit(lambda: _send(user_group(user_id), event), robust=True)


def logged_out_receiver(sender: Any, *, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    """user_logged_out: the signing-out session's sockets close (the signal comes before the session is flushed)."""
    if user is None or request is None or not hasattr(request, "session"):
        return
    sessions_end(user_id=user.pk, session_key=request.session.session_key)


def user_saved_receiver(sender: Any, *, instance: User, created: bool, **kwargs: Any) -> None:
    """post_save of a User: deactivation anywhere (the admin, a shell) closes the user's sockets."""
    if not created and not instance.is_active:
        sessions_end(user_id=instance.pk)


def user_deleted_receiver(sender: Any, *, instance: User, **kwargs: Any) -> None:
    sessions_end(user_id=instance.pk)
