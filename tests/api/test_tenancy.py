"""Every /v1 route that takes an id answers 404 (never 403, never 200) when the id belongs to another
organization, for every method, even when all other ids in the URL are the caller's own."""

import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def api_routes() -> list[tuple[str, Any]]:
    """(route template under /v1/, view class) for every API route with a path parameter."""
    out: list[tuple[str, Any]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                view = getattr(p.callback, "view_class", None)
                if route.startswith("v1/") and "<" in route and view is not None:
                    out.append((route, view))

    walk(get_resolver().url_patterns, "")
    return out


def fill(route: str, values: dict[str, str]) -> str:
    return "/" + re.sub(r"<str:(\w+)>", lambda m: values[m.group(1)], route)


def test_the_route_table_is_covered() -> None:
    params = {name for route, _ in api_routes() for name in re.findall(r"<str:(\w+)>", route)}
    assert params == {
        "agent_id",
        "block_id",
        "block_label",
        "tool_id",
        "run_id",
        "step_id",
        "passage_id",
        "message_id",
        "tool_name",
        "identity_id",
        "mcp_server_id",
        "mcp_tool_id",
        "conversation_id",
        "provider_id",
        "archive_id",
        "folder_id",
        "folder_name",
        "file_id",
    }
    assert len(api_routes()) >= 45


def test_an_outsider_gets_404_for_every_route_with_an_id(
    charlie_api: APIClient, alice_world: dict[str, str], charlie_world: dict[str, str]
) -> None:
    checked = 0
    for route, view in api_routes():
        for param in re.findall(r"<str:(\w+)>", route):
            if param in ("block_label", "tool_name"):  # names within the agent, not ids: the agent is the tenant
                continue
            if param == "provider_id":  # the server's configured providers, the same for every organization
                continue
            # Alice's object in this slot; Charlie's own objects everywhere else.
            url = fill(route, {**charlie_world, param: alice_world[param]})
            for method in METHODS:
                if not hasattr(view, method):
                    continue
                response = getattr(charlie_api, method)(url, {}, format="json")
                where = f"{method.upper()} {url}"
                assert response.status_code == 404, f"{where}: {response.status_code} {response.content!r}"
                assert response.json()["detail"]
                checked += 1
    assert checked >= 50


def test_a_teammate_reaches_every_route_with_an_id(bob_api: APIClient, alice_world: dict[str, str]) -> None:
    for route, view in api_routes():
        if hasattr(view, "get"):
            url = fill(route, alice_world)
            response = bob_api.get(url, {"query": "fact"})
            assert response.status_code == 200, f"GET {url}: {response.status_code} {response.content!r}"
