import uuid
from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils.crypto import constant_time_compare

from accounts.models import APIKey, Membership, Organization


def organization_id_for(actor: User) -> uuid.UUID:
    """The organization id every selector scopes by. Raises Membership.DoesNotExist for users without one."""
    cached: uuid.UUID | None = getattr(actor, "_engram_organization_id", None)
    if cached is None:
        cached = Membership.objects.values_list("organization_id", flat=True).get(user_id=actor.pk)
        actor._engram_organization_id = cached  # type: ignore[attr-defined]
    return cached


def organization_get(*, actor: User) -> Organization:
    return Organization.objects.get(pk=organization_id_for(actor))


def membership_get(*, actor: User) -> Membership:
    return Membership.objects.select_related("organization").get(user_id=actor.pk)


def membership_list(*, actor: User) -> QuerySet[Membership]:
    """The organization's members; removed (deactivated) ones are left out."""
    return (
        Membership.objects.filter(organization_id=organization_id_for(actor), user__is_active=True)
        .select_related("user")
        .order_by("user__username")
    )


def apikey_list(*, actor: User) -> QuerySet[APIKey]:
    return APIKey.objects.filter(user_id=actor.pk)


def apikey_get(*, actor: User, key_id: uuid.UUID) -> APIKey:
    """Raises APIKey.DoesNotExist for another user's key (outsiders see 404, never 403)."""
    return APIKey.objects.get(pk=key_id, user_id=actor.pk)


def membership_get_by_username(*, actor: User, username: str) -> Membership:
    """A current member of the actor's organization; Membership.DoesNotExist (404) for anyone else's."""
    return Membership.objects.select_related("user").get(
        organization_id=organization_id_for(actor), user__username=username, user__is_active=True
    )


def session_valid(*, session_key: str | None, user_id: int) -> bool:
    """Whether the session still signs in this user, read afresh from the session store: it exists and has not
    expired, the user is active, and their password has not changed since (Django's session hash)."""
    if not session_key:
        return False
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    if str(data.get(SESSION_KEY)) != str(user_id):
        return False
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return user is not None and constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())
