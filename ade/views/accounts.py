import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.http import AuthedHttpRequest
from accounts.models import APIKey
from ade.forms import APIKeyCreateForm, MemberAddForm


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
    context = {
        "membership": membership,
        "members": account_selectors.membership_list(actor=request.user),
        "form": form,
    }
    return render(request, "ade/members.html", context)


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
    messages.success(request, f"Revoked {api_key.name}.")
    if request.htmx:
        context = {"keys": account_selectors.apikey_list(actor=request.user), "form": APIKeyCreateForm()}
        return render(request, "ade/api_keys.html#key-list", context)
    return redirect("ade:api-keys")
