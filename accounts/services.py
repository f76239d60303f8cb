import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import events
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


# Usernames are global, so adding one that another organization uses has to fail; this wording says no more than
# that, so an owner cannot learn which usernames other organizations have (a clash in their own organization,
# whose members they can list anyway, says so).
USERNAME_UNAVAILABLE = "That username cannot be used. Choose another."


def password_check(*, password: str, username: str, email: str = "") -> None:
    """AUTH_PASSWORD_VALIDATORS for a user about to be created; ValidationError({"password": [...]}) on failure."""
    try:
        validate_password(password, user=User(username=username, email=email))
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None


def member_add(
    *, actor: User, username: str, password: str, role: str = Membership.Role.MEMBER, email: str = ""
) -> User:
    """An owner or admin adds a member to their own organization."""
    membership = Membership.objects.select_related("organization").get(user=actor)
    if not membership.can_manage_members:
        raise PermissionError("only owners and admins can add members")
    if role == Membership.Role.OWNER and membership.role != Membership.Role.OWNER:
        raise PermissionError("only owners can add owners")
    existing = Membership.objects.filter(user__username=username).values("organization_id", "user__is_active").first()
    if existing is not None and existing["organization_id"] == membership.organization_id:
        was = "is already" if existing["user__is_active"] else "was"
        raise ValidationError({"username": f"{username} {was} a member of {membership.organization.name}"})
    if existing is not None or User.objects.filter(username=username).exists():
        raise ValidationError({"username": USERNAME_UNAVAILABLE})
    password_check(password=password, username=username, email=email)
    try:
        return user_create(
            username=username, password=password, organization=membership.organization, role=role, email=email
        )
    except (ValidationError, IntegrityError) as exc:
        # Someone took the name since the check above: the same answer, never user_create's "already exists".
        if isinstance(exc, ValidationError) and "username" not in exc.message_dict:
            raise
        raise ValidationError({"username": USERNAME_UNAVAILABLE}) from None


def _manageable(*, actor: User, membership: Membership) -> Membership:
    """The actor's own membership, when they may manage `membership` (same organization, owner or admin; only
    owners manage owners). PermissionError otherwise."""
    own = Membership.objects.get(user_id=actor.pk)
    if own.organization_id != membership.organization_id or not own.can_manage_members:
        raise PermissionError("only owners and admins of the organization manage its members")
    if membership.role == Membership.Role.OWNER and own.role != Membership.Role.OWNER:
        raise PermissionError("only owners can change or remove an owner")
    return own


def _check_owner_remains(*, membership: Membership) -> None:
    """Caller holds the organization row's lock, so two owners cannot step down at once and leave none."""
    if membership.role != Membership.Role.OWNER:
        return
    owners = Membership.objects.filter(
        organization_id=membership.organization_id, role=Membership.Role.OWNER, user__is_active=True
    ).exclude(pk=membership.pk)
    if not owners.exists():
        raise ValidationError({"role": "An organization needs at least one owner: make someone else an owner first."})


@transaction.atomic
def membership_role_update(*, actor: User, membership: Membership, role: str) -> Membership:
    """Owners and admins change roles in their organization; only owners grant or take the owner role, and the
    last owner keeps it. PermissionError / ValidationError({"role"}) otherwise, with nothing written."""
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"must be one of {', '.join(Membership.Role.values)}"})
    Organization.objects.select_for_update().get(pk=membership.organization_id)
    membership = Membership.objects.get(pk=membership.pk)  # re-read under the lock
    own = _manageable(actor=actor, membership=membership)
    if role == Membership.Role.OWNER and own.role != Membership.Role.OWNER:
        raise PermissionError("only owners can make someone an owner")
    if role != Membership.Role.OWNER:
        _check_owner_remains(membership=membership)
    Membership.objects.filter(pk=membership.pk).update(role=role)
    membership.role = role
    return membership


@transaction.atomic
def membership_remove(*, actor: User, membership: Membership) -> None:
    """Removes a member: the user is deactivated (kept, so what they wrote still names them, and their username
    is not handed to someone else), their password made unusable, their API keys revoked, and their open
    websockets closed after commit. Sessions die with is_active (ModelBackend refuses inactive users)."""
    Organization.objects.select_for_update().get(pk=membership.organization_id)
    membership = Membership.objects.select_related("user").get(pk=membership.pk)
    _manageable(actor=actor, membership=membership)
    if membership.user_id == actor.pk:
        raise ValidationError({"user": "You cannot remove yourself; ask another owner or admin."})
    _check_owner_remains(membership=membership)
    user_deactivate(user=membership.user)


@transaction.atomic
def user_deactivate(*, user: User) -> None:
    user.is_active = False
    user.set_unusable_password()
    # update(), not save(): the post_save receiver would announce the same end of sessions a second time.
    User.objects.filter(pk=user.pk).update(is_active=False, password=user.password)
    APIKey.objects.filter(user=user, revoked_at=None).update(revoked_at=timezone.now())
    events.sessions_end(user_id=user.pk)


def user_password_change(*, user: User, password: str, keep_session_key: str | None = None) -> None:
    """Sets a new password (the caller has checked the old one and the validators). Other sessions stop working
    (their session hash no longer matches) and their websockets close; keep_session_key's socket stays."""
    user.set_password(password)
    user.save(update_fields=["password"])
    events.sessions_end(user_id=user.pk, keep_session_key=keep_session_key)


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
