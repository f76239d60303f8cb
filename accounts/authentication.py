from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import APIKey
from accounts.services import apikey_authenticate


class APIKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <api key>` → that key's user, scoped to the key's organization."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, APIKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        raw_key = raw_key.strip()
        if not raw_key:
            raise exceptions.AuthenticationFailed("Authorization header has no key")
        api_key = apikey_authenticate(raw_key=raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key")
        user = api_key.user
        user._engram_organization_id = api_key.organization_id  # type: ignore[attr-defined]
        return user, api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
