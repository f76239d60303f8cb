"""Model fields that other apps' models share."""

from typing import Any

from django.conf import settings
from django.db import models


def user_reference() -> "models.ForeignKey[Any, Any]":
    """The user who made or last changed a row (created_by, last_updated_by, ...): optional, kept as NULL when the
    user is deleted, with no reverse accessor on the user."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
