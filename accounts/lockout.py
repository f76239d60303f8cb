"""The page a sign-in refused by the rate limit gets (django-axes' AXES_LOCKOUT_CALLABLE)."""

from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_message() -> str:
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    # The same words for a known and an unknown username, so the lock reveals nothing about who has an account.
    return (
        f"Too many failed sign-ins for this account or from this address. Try again in {minutes} minutes, "
        "or ask an admin to unlock the account."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """The sign-in page again, with the reason, as 429. The admin login gets the same page: its form posts back to
    the URL it came from."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "locked_out": lockout_message(),
        "next": request.POST.get("next", request.GET.get("next", "")),
    }
    return render(request, "registration/login.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
