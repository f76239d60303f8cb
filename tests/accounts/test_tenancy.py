from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Organization
from lib.ids import public_id
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


def test_it_lists_only_the_actors_organization(alice_api: APIClient, alice: Any, charlie: Any) -> None:
    make_agent(alice, name="mine")
    make_agent(charlie, name="theirs")
    names = [a["name"] for a in alice_api.get("/v1/agents/").json()]
    assert names == ["mine"]


def test_a_teammate_sees_the_organizations_agents(bob_api: APIClient, alice: Any) -> None:
    agent = make_agent(alice, name="shared")
    response = bob_api.get(f"/v1/agents/{public_id('agent', agent.id)}")
    assert response.status_code == 200
    assert response.json()["id"] == public_id("agent", agent.id)


def test_an_outsider_gets_404_not_403(charlie_api: APIClient, alice: Any) -> None:
    agent = make_agent(alice, name="private")
    response = charlie_api.get(f"/v1/agents/{public_id('agent', agent.id)}")
    assert response.status_code == 404
    assert "private" not in response.content.decode()


def test_a_malformed_id_is_a_404(alice_api: APIClient) -> None:
    assert alice_api.get("/v1/agents/agent-nope").status_code == 404


def test_members_page_lists_only_own_organization(client: Any, alice: Any, bob: Any, charlie: Any) -> None:
    client.force_login(alice)
    page = client.get("/members/").content.decode()
    assert "bob" in page
    assert "charlie" not in page


def test_an_admin_adds_a_member_and_a_member_cannot(client: Any, alice: Any, bob: Any) -> None:
    client.force_login(alice)
    response = client.post(
        "/members/", {"username": "dora", "password": "a-long-password", "role": "member", "email": ""}
    )
    assert response.status_code == 302
    assert alice.membership.organization.memberships.filter(user__username="dora").exists()

    client.force_login(bob)
    response = client.post(
        "/members/", {"username": "eve", "password": "a-long-password", "role": "member", "email": ""}
    )
    assert response.status_code == 404
    assert not Organization.objects.filter(memberships__user__username="eve").exists()
