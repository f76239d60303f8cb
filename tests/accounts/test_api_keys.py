from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import APIKey
from accounts.services import apikey_create, apikey_revoke, hash_api_key

pytestmark = pytest.mark.django_db


def test_it_rejects_requests_without_a_key() -> None:
    response = APIClient().get("/v1/agents/")
    assert response.status_code == 401
    assert response.json()["detail"]
    assert response["WWW-Authenticate"] == "Bearer"


def test_it_rejects_an_unknown_key() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer sk-engram-not-a-real-key")
    assert client.get("/v1/agents/").status_code == 401


def test_it_accepts_a_valid_key(alice: Any) -> None:
    created = apikey_create(user=alice, name="laptop")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.raw_key}")
    response = client.get("/v1/agents/")
    assert response.status_code == 200
    assert response.json() == []
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at is not None


def test_it_stores_only_a_hash(alice: Any) -> None:
    created = apikey_create(user=alice, name="laptop")
    row = APIKey.objects.get(pk=created.api_key.pk)
    assert created.raw_key not in (row.key_hash, row.prefix)
    assert row.key_hash == hash_api_key(created.raw_key)


def test_a_revoked_key_fails_at_once(alice: Any) -> None:
    created = apikey_create(user=alice, name="laptop")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.raw_key}")
    assert client.get("/v1/agents/").status_code == 200
    apikey_revoke(api_key=created.api_key)
    assert client.get("/v1/agents/").status_code == 401


def test_a_deactivated_users_key_fails(alice: Any) -> None:
    created = apikey_create(user=alice, name="laptop")
    alice.is_active = False
    alice.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.raw_key}")
    assert client.get("/v1/agents/").status_code == 401


def test_the_command_prints_the_key_once_on_its_own_line(alice: Any) -> None:
    out, err = StringIO(), StringIO()
    call_command("apikey", "create", "alice", "--name", "ci", stdout=out, stderr=err)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    raw_key = lines[0]
    assert raw_key.startswith("sk-engram-")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get("/v1/agents/").status_code == 200
    assert APIKey.objects.get(key_hash=hash_api_key(raw_key)).name == "ci"


def test_ade_creates_shows_once_and_revokes_keys(client: Any, alice: Any) -> None:
    client.force_login(alice)
    response = client.post("/keys/", {"name": "browser"})
    assert response.status_code == 200
    raw_key = response.context["new_key"]
    assert raw_key in response.content.decode()
    api_key = APIKey.objects.get(user=alice, name="browser")
    page = client.get("/keys/").content.decode()
    assert raw_key not in page
    assert api_key.prefix in page

    assert client.post(f"/keys/{api_key.id}/revoke/").status_code == 302
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api.get("/v1/agents/").status_code == 401


def test_an_outsider_cannot_revoke_anothers_key(client: Any, alice: Any, charlie: Any) -> None:
    api_key = apikey_create(user=alice, name="laptop").api_key
    client.force_login(charlie)
    assert client.post(f"/keys/{api_key.id}/revoke/").status_code == 404
    api_key.refresh_from_db()
    assert api_key.is_active
