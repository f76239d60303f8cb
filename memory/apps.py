from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_search_schema(using: str = "default", **kwargs: Any) -> None:
    from memory.ddl import ensure_search_schema

    ensure_search_schema(connections[using])


class MemoryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "memory"

    def ready(self) -> None:
        # Django rebuilds SQLite tables on some schema changes; put the FTS triggers back afterwards.
        post_migrate.connect(_ensure_search_schema, dispatch_uid="memory.ensure_search_schema")
