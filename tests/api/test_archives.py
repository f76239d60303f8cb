"""Shared archives over /v1: tenant isolation in every route and every search, bad input as 4xx naming the field,
and an agent's search covering its attached archives with the filters applied before the limit."""

import datetime as dt
from typing import Any

import pytest
from rest_framework.test import APIClient

from lib.ids import parse_id, public_id
from memory.models import Archive, ArchiveAttachment, Passage
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


def _archive(api: APIClient, name: str = "notes") -> dict[str, Any]:
    response = api.post("/v1/archives/", {"name": name}, format="json")
    assert response.status_code == 200, response.content
    return dict(response.json())


def _passage(api: APIClient, archive_id: str, text: str, **extra: Any) -> dict[str, Any]:
    response = api.post(f"/v1/archives/{archive_id}/passages", {"text": text, **extra}, format="json")
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_another_organization_sees_nothing_of_an_archive(
    alice: Any, charlie: Any, alice_api: APIClient, charlie_api: APIClient
) -> None:
    archive = _archive(alice_api, "alice-secrets")
    secret = _passage(alice_api, archive["id"], "The vault combination is zebra-42.")
    alice_agent = make_agent(alice, name="alice-agent")
    charlie_agent = make_agent(charlie, name="charlie-agent")
    attach = f"/v1/agents/{public_id('agent', alice_agent.id)}/archives/attach/{archive['id']}"
    assert alice_api.patch(attach).status_code == 200

    url = f"/v1/archives/{archive['id']}"
    for method, path, body in [
        ("get", url, None),
        ("patch", url, {"name": "mine"}),
        ("delete", url, None),
        ("get", f"{url}/passages", None),
        ("post", f"{url}/passages", {"text": "planted"}),
        ("post", f"{url}/passages/batch", {"passages": [{"text": "planted"}]}),
        ("delete", f"{url}/passages/{secret['id']}", None),
        ("patch", f"/v1/agents/{public_id('agent', charlie_agent.id)}/archives/attach/{archive['id']}", None),
        ("patch", f"/v1/agents/{public_id('agent', charlie_agent.id)}/archives/detach/{archive['id']}", None),
        ("post", "/v1/passages/search", {"query": "vault", "archive_id": archive["id"]}),
        ("post", "/v1/passages/search", {"query": "vault", "agent_id": public_id("agent", alice_agent.id)}),
    ]:
        response = getattr(charlie_api, method)(path, body, format="json")
        assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.content!r}"
    assert [a["id"] for a in charlie_api.get("/v1/archives/").json()] == []
    assert charlie_api.get("/v1/archives/", {"name": "alice-secrets"}).json() == []
    # Searches: the organization-wide one, and Charlie's agent's own (routes and a query that matches).
    assert charlie_api.post("/v1/passages/search", {"query": "vault combination zebra"}, format="json").json() == []
    assert charlie_api.post("/v1/passages/search", {}, format="json").json() == []
    own = charlie_api.get(
        f"/v1/agents/{public_id('agent', charlie_agent.id)}/archival-memory/search", {"query": "vault combination"}
    )
    assert own.status_code == 200 and own.json()["results"] == []
    # Nothing was written or changed by the attempts.
    assert Archive.objects.get(pk=parse_id("archive", archive["id"])).name == "alice-secrets"
    assert Passage.objects.filter(archive_id=parse_id("archive", archive["id"])).count() == 1
    assert not ArchiveAttachment.objects.filter(agent_id=charlie_agent.id).exists()
    # Alice finds it everywhere.
    hits = alice_api.post("/v1/passages/search", {"query": "vault combination"}, format="json").json()
    assert hits[0]["passage"]["id"] == secret["id"] and hits[0]["score"] > 0


def test_bad_input_is_a_4xx_naming_the_field(alice_api: APIClient, alice: Any) -> None:
    cases = [
        ("/v1/archives/", {}, "name"),
        ("/v1/archives/", {"name": ""}, "name"),
        ("/v1/archives/", {"name": "x" * 201}, "name"),
        ("/v1/archives/", {"name": "n", "embedding": "http://169.254.169.254/x"}, "embedding"),
    ]
    archive = _archive(alice_api)
    cases += [
        (f"/v1/archives/{archive['id']}/passages", {"text": ""}, "text"),
        (f"/v1/archives/{archive['id']}/passages", {"text": "x", "tags": "nope"}, "tags"),
        (f"/v1/archives/{archive['id']}/passages", {"text": "x", "created_at": "yesterday"}, "created_at"),
        (f"/v1/archives/{archive['id']}/passages/batch", {"passages": []}, "passages"),
        (f"/v1/archives/{archive['id']}/passages/batch", {"passages": [{"text": "ok"}, {"text": ""}]}, "text"),
        ("/v1/passages/search", {"query": "x", "limit": 0}, "limit"),
        ("/v1/passages/search", {"query": "x", "tag_match_mode": "some"}, "tag_match_mode"),
        ("/v1/passages/search", {"query": "x", "start_date": "soon"}, "start_date"),
    ]
    for url, body, field in cases:
        response = alice_api.post(url, body, format="json")
        assert 400 <= response.status_code < 500, f"{url} {body}: {response.status_code}"
        assert field in str(response.json()), f"{url} {body}: {response.json()}"
    # A failed batch writes nothing.
    assert Passage.objects.filter(archive_id=parse_id("archive", archive["id"])).count() == 0
    assert alice_api.patch(f"/v1/archives/{archive['id']}", {"name": ""}, format="json").status_code == 422


def test_an_agent_search_covers_its_archives_with_filters_before_the_limit(alice: Any, alice_api: APIClient) -> None:
    archive = _archive(alice_api)
    agent = make_agent(alice, name="searcher")
    agent_id = public_id("agent", agent.id)
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC).isoformat()
    # Many better matches without the tag (and in the agent's own memory): the tag filter must apply before top_k.
    for i in range(15):
        _passage(alice_api, archive["id"], f"gardening tomatoes gardening tomatoes note {i}")
        alice_api.post(f"/v1/agents/{agent_id}/archival-memory", {"text": f"gardening tomatoes {i}"}, format="json")
    tagged = _passage(alice_api, archive["id"], "a remark on gardening", tags=["rare"], created_at=old)
    assert alice_api.patch(f"/v1/agents/{agent_id}/archives/attach/{archive['id']}").status_code == 200
    assert alice_api.patch(f"/v1/agents/{agent_id}/archives/attach/{archive['id']}").status_code == 200  # idempotent
    found = alice_api.get(
        f"/v1/agents/{agent_id}/archival-memory/search", {"query": "gardening tomatoes", "tags": "rare", "top_k": 2}
    ).json()
    assert [r["content"] for r in found["results"]] == [tagged["text"]]
    dated = alice_api.get(
        f"/v1/agents/{agent_id}/archival-memory/search",
        {"query": "gardening tomatoes", "end_datetime": "2021-01-01T00:00:00Z", "top_k": 1},
    ).json()
    assert [r["content"] for r in dated["results"]] == [tagged["text"]]
    mixed = alice_api.get(
        f"/v1/agents/{agent_id}/archival-memory/search", {"query": "gardening tomatoes", "top_k": 40}
    ).json()
    assert len(mixed["results"]) == 31  # 15 own + 16 in the archive
    # The agent's own listing is unchanged: its own passages only.
    listed = alice_api.get(f"/v1/agents/{agent_id}/archival-memory", {"limit": 100}).json()
    assert len(listed) == 15 and all(p["archive_id"] is None for p in listed)
    # The archive's passages list oldest first (the 2020 one), then in insertion order.
    page = alice_api.get(f"/v1/archives/{archive['id']}/passages", {"limit": 100, "order": "asc"}).json()
    assert page[0]["text"] == tagged["text"]
    assert [p["text"] for p in page][1:] == [f"gardening tomatoes gardening tomatoes note {i}" for i in range(15)]
    # Deleting an agent keeps the archive; deleting the archive drops its passages and attachments.
    assert alice_api.delete(f"/v1/archives/{archive['id']}").status_code == 200
    assert not Passage.objects.filter(archive__isnull=False).exists()
    assert not ArchiveAttachment.objects.exists()
    assert Passage.objects.filter(agent=agent).count() == 15
