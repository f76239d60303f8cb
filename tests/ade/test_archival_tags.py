"""The archival panel's tag filter is applied in the database before the page is cut, and "all tags" means all."""

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client

from agents.models import Agent
from memory.services.passages import passage_insert

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def insert(agent: Agent, minute: int, text: str, tags: list[str]) -> None:
    passage_insert(agent=agent, text=text, tags=tags, created_at=T0 + dt.timedelta(minutes=minute))


def shown(page: str) -> list[str]:
    """Passage texts on the panel, in order (newest first)."""
    return re.findall(r'<li class="passage card"[^>]*>\s*<p>([^<]*)</p>', page)


def test_it_finds_tagged_passages_older_than_the_first_page(alice_client: Client, agent: Agent) -> None:
    for i in range(3):
        insert(agent, i, f"tagged {i}", ["trip"])
    for i in range(30):  # newer than every tagged passage: they fill the first unfiltered page
        insert(agent, 10 + i, f"filler {i}", ["misc"])
    page = alice_client.get(f"/agents/{agent.id}/archival/?tags=trip", **HX).content.decode()
    assert shown(page) == ["tagged 2", "tagged 1", "tagged 0"]
    assert "Older" not in page


def test_it_pages_over_the_tagged_passages_only(alice_client: Client, agent: Agent) -> None:
    for i in range(50):  # every other passage is tagged: 25 match, a full page and 5 more
        insert(agent, i, f"p{i}", ["even"] if i % 2 == 0 else ["odd"])
    first = alice_client.get(f"/agents/{agent.id}/archival/?tags=even", **HX).content.decode()
    assert shown(first) == [f"p{i}" for i in range(48, 8, -2)]
    assert "Older" in first
    second = alice_client.get(f"/agents/{agent.id}/archival/?tags=even&page=2", **HX).content.decode()
    assert shown(second) == ["p8", "p6", "p4", "p2", "p0"]
    assert "Older" not in second


def test_all_tags_means_all_and_any_means_any(alice_client: Client, agent: Agent) -> None:
    insert(agent, 0, "both", ["red", "blue"])
    insert(agent, 1, "only red", ["red"])
    insert(agent, 2, "only blue", ["blue"])
    insert(agent, 3, "none", [])
    url = f"/agents/{agent.id}/archival/?tags=red,blue"
    assert shown(alice_client.get(url + "&tag_match=all", **HX).content.decode()) == ["both"]
    assert shown(alice_client.get(url + "&tag_match=any", **HX).content.decode()) == ["only blue", "only red", "both"]
    assert shown(alice_client.get(url, **HX).content.decode()) == ["only blue", "only red", "both"]


def test_it_refuses_a_bad_filter_naming_the_field(alice_client: Client, agent: Agent) -> None:
    insert(agent, 0, "kept", ["red"])
    url = f"/agents/{agent.id}/archival/"
    response = alice_client.get(url + "?tags=red&tag_match=most", **HX)
    assert response.status_code == 422
    page = response.content.decode()
    assert re.search(r'class="error"[^>]*>tag_match: Select a valid choice', page), page
    assert shown(page) == []
    too_many = ",".join(f"t{i}" for i in range(101))
    response = alice_client.get(url + f"?tags={too_many}", **HX)
    assert response.status_code == 422
    assert "tags: must be at most 100 non-empty tags" in response.content.decode()


def test_an_outsider_gets_404(charlie: Any, agent: Agent) -> None:
    outsider = Client()
    outsider.force_login(charlie)
    assert outsider.get(f"/agents/{agent.id}/archival/?tags=red", **HX).status_code == 404
