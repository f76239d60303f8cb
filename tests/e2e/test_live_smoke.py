import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from accounts.services import apikey_create
from tests.live import LiveServer, screenshot, sign_in


def _get(url: str, key: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_live_server_authenticates_api_keys(daphne_server: LiveServer, alice: Any) -> None:
    assert _get(f"{daphne_server.url}/v1/health/")[0] == 200
    assert _get(f"{daphne_server.url}/v1/agents/")[0] == 401
    key = apikey_create(user=alice, name="live").raw_key
    assert _get(f"{daphne_server.url}/v1/agents/", key) == (200, [])


@pytest.mark.browser
def test_a_user_signs_in_in_chromium(daphne_server: LiveServer, page: Any, alice: Any) -> None:
    page.goto(f"{daphne_server.url}/")
    assert "/accounts/login/" in page.url
    sign_in(page, daphne_server, "alice", "password-alice")
    assert page.locator("h1").inner_text() == "Agents"
    screenshot(page, "agent-list-empty")


def test_the_letta_sdk_reaches_the_server_with_an_api_key(daphne_server: LiveServer, alice: Any) -> None:
    from letta_client import AuthenticationError, Letta

    key = apikey_create(user=alice, name="sdk").raw_key
    client = Letta(base_url=daphne_server.url, api_key=key, max_retries=0)
    assert client.health().status == "ok"
    with pytest.raises(AuthenticationError):
        Letta(base_url=daphne_server.url, api_key="sk-engram-wrong", max_retries=0).agents.list()
