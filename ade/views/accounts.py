import uuid

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.http import AuthedHttpRequest
from accounts.models import APIKey, Membership
from ade.forms import APIKeyCreateForm, MemberAddForm, MemberRoleForm


def _members_page(
    request: AuthedHttpRequest,
    membership: Membership,
    *,
    form: MemberAddForm | None = None,
    member_error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "membership": membership,
        "members": account_selectors.membership_list(actor=request.user),
        "roles": Membership.Role.choices,
        "form": form or MemberAddForm(),
        "member_error": member_error,
    }
    template = "ade/members.html#member-list" if request.htmx else "ade/members.html"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
def members(request: AuthedHttpRequest) -> HttpResponse:
    membership = account_selectors.membership_get(actor=request.user)
    form = MemberAddForm(request.POST or None)
    if request.method == "POST":
        if not membership.can_manage_members:
            raise Http404
        if form.is_valid():
            try:
                account_services.member_add(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            except PermissionError as exc:
                form.add_error("role", str(exc))
            else:
                messages.success(request, f"Added {form.cleaned_data['username']}.")
                return redirect("ade:members")
        return _members_page(request, membership, form=form, status=422)
    return _members_page(request, membership, form=form)


def _managed_member(request: AuthedHttpRequest, username: str) -> tuple[Membership, Membership]:
    """(the actor's membership, the member they act on). Members and outsiders get 404, as on the add form."""
    own = account_selectors.membership_get(actor=request.user)
    if not own.can_manage_members:
        raise Http404
    try:
        return own, account_selectors.membership_get_by_username(actor=request.user, username=username)
    except Membership.DoesNotExist:
        raise Http404 from None


def _refused(request: AuthedHttpRequest, own: Membership, reason: str, status: int) -> HttpResponse:
    return _members_page(request, own, member_error=reason, status=status)


@require_POST
def member_role(request: AuthedHttpRequest, username: str) -> HttpResponse:
    own, target = _managed_member(request, username)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _refused(request, own, f"Role: {' '.join(str(e) for e in form.errors['role'])}", 422)
    try:
        updated = account_services.membership_role_update(
            actor=request.user, membership=target, role=form.cleaned_data["role"]
        )
    except ValidationError as exc:
        return _refused(request, own, " ".join(exc.messages), 422)
    except PermissionError as exc:
        return _refused(request, own, f"Not allowed: {exc}.", 403)
    if request.htmx:
        # Re-read: an owner who stepped down to member no longer sees the controls.
        return _members_page(request, account_selectors.membership_get(actor=request.user))
    messages.success(request, f"{username} is now {updated.get_role_display().lower()}.")
    return redirect("ade:members")


@require_POST
def member_remove(request: AuthedHttpRequest, username: str) -> HttpResponse:
    own, target = _managed_member(request, username)
    try:
        account_services.membership_remove(actor=request.user, membership=target)
    except ValidationError as exc:
        return _refused(request, own, " ".join(exc.messages), 422)
    except PermissionError as exc:
        return _refused(request, own, f"Not allowed: {exc}.", 403)
    if request.htmx:
        return _members_page(request, own)
    messages.success(request, f"Removed {username}: signed out, API keys revoked.")
    return redirect("ade:members")


@require_http_methods(["GET", "POST"])
def password_change(request: AuthedHttpRequest) -> HttpResponse:
    """Django's PasswordChangeForm checks the old password and runs AUTH_PASSWORD_VALIDATORS on the new one."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        account_services.user_password_change(
            user=request.user,
            password=form.cleaned_data["new_password1"],
            keep_session_key=request.session.session_key,
        )
        # The new password changes the session hash: keep this session, the others stop working.
        update_session_auth_hash(request, request.user)
        messages.success(request, "Password changed. Your other sessions are signed out.")
        return redirect("ade:home")
    status = 422 if request.method == "POST" else 200
    return render(request, "ade/password_change.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def api_keys(request: AuthedHttpRequest) -> HttpResponse:
    form = APIKeyCreateForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            created = account_services.apikey_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error("name", "; ".join(exc.messages))
        else:
            new_key = created.raw_key
            form = APIKeyCreateForm()
    context = {"keys": account_selectors.apikey_list(actor=request.user), "form": form, "new_key": new_key}
    template = "ade/api_keys.html#key-list" if request.htmx else "ade/api_keys.html"
    return render(request, template, context)


@require_POST
def api_key_revoke(request: AuthedHttpRequest, key_id: uuid.UUID) -> HttpResponse:
    try:
        api_key = account_selectors.apikey_get(actor=request.user, key_id=key_id)
    except (APIKey.DoesNotExist, ValidationError):
        raise Http404 from None
    account_services.apikey_revoke(api_key=api_key)
    if request.htmx:
        # Said in the swapped list: a flash message here would wait in the session and show on a later page.
        context = {
            "keys": account_selectors.apikey_list(actor=request.user),
            "form": APIKeyCreateForm(),
            "revoked": api_key.name,
        }
        return render(request, "ade/api_keys.html#key-list", context)
    messages.success(request, f"Revoked {api_key.name}.")
    return redirect("ade:api-keys")
