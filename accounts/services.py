import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import APIKey, Membership, Organization

KEY_PREFIX = "sk-engram-"


def hash_api_key(raw_key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast unsalted hash is enough to make a leaked table useless.
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedAPIKey:
    api_key: APIKey
    raw_key: str


def organization_create(*, name: str) -> Organization:
    return Organization.objects.create(name=name)


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    organization: Organization,
    role: str = Membership.Role.MEMBER,
    email: str = "",
    is_staff: bool = False,
) -> User:
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"must be one of {', '.join(Membership.Role.values)}"})
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": f"a user named {username!r} already exists"})
    user = User.objects.create_user(
        username=username, email=email, password=password, is_staff=is_staff, is_superuser=is_staff
    )
    Membership.objects.create(user=user, organization=organization, role=role)
    return user


@transaction.atomic
def admin_bootstrap(*, username: str, password: str, organization_name: str = "Default") -> User | None:
    """Create the first admin (and its organization) unless any user exists. Returns None when nothing was done."""
    if User.objects.exists():
        return None
    organization = organization_create(name=organization_name)
    return user_create(
        username=username, password=password, organization=organization, role=Membership.Role.OWNER, is_staff=True
    )


def member_add(
    *, actor: User, username: str, password: str, role: str = Membership.Role.MEMBER, email: str = ""
) -> User:
    """An owner or admin adds a member to their own organization."""
    membership = Membership.objects.select_related("organization").get(user=actor)
    if not membership.can_manage_members:
        raise PermissionError("only owners and admins can add members")
    if role == Membership.Role.OWNER and membership.role != Membership.Role.OWNER:
        raise PermissionError("only owners can add owners")
    return user_create(
        username=username, password=password, organization=membership.organization, role=role, email=email
    )


def apikey_create(*, user: User, name: str) -> CreatedAPIKey:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "a key needs a name"})
    if len(name) > 100:
        raise ValidationError({"name": "at most 100 characters"})
    membership = Membership.objects.get(user=user)
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = APIKey.objects.create(
        user=user,
        organization_id=membership.organization_id,
        name=name,
        prefix=raw_key[: len(KEY_PREFIX) + 6],
        key_hash=hash_api_key(raw_key),
    )
    return CreatedAPIKey(api_key=api_key, raw_key=raw_key)


def apikey_revoke(*, api_key: APIKey) -> None:
    APIKey.objects.filter(pk=api_key.pk, revoked_at=None).update(revoked_at=timezone.now())


def apikey_authenticate(*, raw_key: str) -> APIKey | None:
    """The active key matching raw_key, with its user loaded; marks it used (at most once a minute)."""
    api_key = (
        APIKey.objects.select_related("user")
        .filter(key_hash=hash_api_key(raw_key), revoked_at=None, user__is_active=True)
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        APIKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key
