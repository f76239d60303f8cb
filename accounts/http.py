"""Request types for code that only runs for signed-in users (the login middleware and DRF guarantee it)."""

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request


class AuthedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


def api_actor(request: Request) -> User:
    """The acting user of an API request; DRF's IsAuthenticated has already rejected anonymous ones."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user
