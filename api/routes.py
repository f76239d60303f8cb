from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, path


def slash_optional(route: str, view: Callable[..., Any], name: str) -> list[URLPattern]:
    """Register `route` with and without its trailing slash: the SDKs use both, and POSTs cannot be redirected."""
    bare = route.rstrip("/")
    return [path(bare + "/", view, name=name), path(bare, view, name=f"{name}-noslash")]
