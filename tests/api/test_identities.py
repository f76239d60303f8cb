"""Identities over /v1: CRUD, upsert, properties, their agents and blocks, attach/detach, the agent filters;
bad input is a 422 (a taken identifier_key a 409) with nothing written; other organizations' ids are 404s."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from agents.models import Agent, Identity, IdentityAgent, IdentityBlock
from lib.ids import parse_id

pytestmark = pytest.mark.django_db

ADA = {"identifier_key": "ada@example.com", "name": "Ada Lovelace", "identity_type": "user"}


def create(api: APIClient, **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/identities/", {**ADA, **fields}, format="json")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def new_agent(api: APIClient, name: str, **fields: Any) -> dict[str, Any]:
    response = api.post("/v1/agents/", {"name": name, "model": "openai/gpt-4o-mini", **fields}, format="json")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def snapshot() -> tuple[Any, ...]:
    """Everything an identity write could touch, to assert a refused request wrote nothing."""
    return (
        sorted(Identity.objects.values_list("id", "identifier_key", "name", "identity_type", "properties")),
        sorted(IdentityAgent.objects.values_list("identity_id", "agent_id")),
        sorted(IdentityBlock.objects.values_list("identity_id", "block_id")),
        Agent.objects.count(),
    )


def test_it_creates_retrieves_and_counts(alice_api: APIClient) -> None:
    props = [
        {"key": "plan", "value": "pro", "type": "string"},
        {"key": "seats", "value": 3, "type": "number"},
        {"key": "beta", "value": True, "type": "boolean"},
        {"key": "prefs", "value": {"tone": "dry"}, "type": "json"},
    ]
    body = create(alice_api, properties=props, project_id="ignored")
    assert body["id"].startswith("identity-")
    assert body["identifier_key"] == "ada@example.com"
    assert body["name"] == "Ada Lovelace"
    assert body["identity_type"] == "user"
    assert body["properties"] == props
    assert body["agent_ids"] == [] and body["block_ids"] == []
    assert body["project_id"] is None
    assert alice_api.get(f"/v1/identities/{body['id']}").json() == body
    assert alice_api.get("/v1/identities/count").json() == 1
    # The slashless collection route answers too.
    response = alice_api.post("/v1/identities", {**ADA, "identifier_key": "b"}, format="json")
    assert response.status_code == 200
    assert alice_api.get("/v1/identities").json()[1]["identifier_key"] == "b"


def test_the_list_filters_and_pages(alice_api: APIClient) -> None:
    a = create(alice_api, identifier_key="a", name="Ada", identity_type="user")
    b = create(alice_api, identifier_key="b", name="Babbage & Co", identity_type="org")
    c = create(alice_api, identifier_key="c", name="Charles", identity_type="other")

    def ids(**params: Any) -> list[str]:
        response = alice_api.get("/v1/identities/", params)
        assert response.status_code == 200, response.content
        return [i["id"] for i in response.json()]

    assert ids() == [a["id"], b["id"], c["id"]]
    assert ids(order="desc") == [c["id"], b["id"], a["id"]]
    assert ids(limit=1, after=a["id"]) == [b["id"]]
    assert ids(before=c["id"]) == [a["id"], b["id"]]
    assert ids(name="bab") == [b["id"]]
    assert ids(identifier_key="c") == [c["id"]]
    assert ids(identity_type="org") == [b["id"]]
    assert ids(identifier_key="nobody") == []
    assert alice_api.get("/v1/identities/", {"identity_type": "robot"}).status_code == 422
    assert alice_api.get("/v1/identities/", {"after": "identity-nope"}).status_code == 422


def test_a_taken_identifier_key_is_a_409_and_writes_nothing(alice_api: APIClient) -> None:
    first = create(alice_api)
    other = create(alice_api, identifier_key="grace@example.com", name="Grace")
    before = snapshot()
    response = alice_api.post("/v1/identities/", {**ADA, "name": "Someone else"}, format="json")
    assert response.status_code == 409
    assert "identifier_key" in response.json()["detail"] and "ada@example.com" in response.json()["detail"]
    assert response["x-should-retry"] == "false"
    response = alice_api.patch(
        f"/v1/identities/{other['id']}", {"identifier_key": ADA["identifier_key"]}, format="json"
    )
    assert response.status_code == 409
    assert snapshot() == before
    # Keeping one's own key is not a clash.
    response = alice_api.patch(
        f"/v1/identities/{first['id']}", {"identifier_key": ADA["identifier_key"]}, format="json"
    )
    assert response.status_code == 200


def test_another_organization_may_use_the_same_key(alice_api: APIClient, charlie_api: APIClient) -> None:
    mine = create(alice_api)
    theirs = create(charlie_api)
    assert mine["id"] != theirs["id"]
    assert [i["id"] for i in charlie_api.get("/v1/identities/").json()] == [theirs["id"]]
    assert charlie_api.get("/v1/identities/count").json() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"identity_type": "robot"}, "identity_type"),
        ({"identifier_key": ""}, "identifier_key"),
        ({"identifier_key": "k" * 201}, "identifier_key"),
        ({"name": None}, "name"),
        ({"properties": [{"key": "a", "value": "x", "type": "number"}]}, "properties"),
        ({"properties": [{"key": "a", "value": 1, "type": "date"}]}, "properties"),
        ({"properties": [{"key": "a", "value": True, "type": "number"}]}, "properties"),
        ({"properties": [{"key": "a", "value": 1, "type": "number"}] * 2}, "properties"),
        ({"properties": [{"key": "a", "type": "string"}]}, "properties"),
        ({"properties": {"a": 1}}, "properties"),
        ({"agent_ids": ["agent-nope"]}, "agent_ids"),
        ({"agent_ids": ["agent-00000000-0000-4000-8000-000000000000"]}, "agent_ids"),
        ({"block_ids": ["block-00000000-0000-4000-8000-000000000000"]}, "block_ids"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    alice_api: APIClient, body: dict[str, Any], field: str
) -> None:
    create(alice_api, identifier_key="existing")
    before = snapshot()
    for method in ("post", "put"):
        response = getattr(alice_api, method)("/v1/identities/", {**ADA, **body}, format="json")
        assert response.status_code == 422, response.content
        assert response.json()["detail"].startswith(field), response.json()
    assert snapshot() == before


def test_other_organizations_agents_and_blocks_are_not_found(
    alice_api: APIClient, charlie_world: dict[str, str]
) -> None:
    before = snapshot()
    for field, key in (("agent_ids", "agent_id"), ("block_ids", "block_id")):
        response = alice_api.post("/v1/identities/", {**ADA, field: [charlie_world[key]]}, format="json")
        assert response.status_code == 422
        assert "not found" in response.json()["detail"]
    assert snapshot() == before


def test_upsert_creates_then_replaces_by_identifier_key(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    response = alice_api.put("/v1/identities/", {**ADA, "agent_ids": [alice_world["agent_id"]]}, format="json")
    assert response.status_code == 200, response.content
    first = response.json()
    assert first["agent_ids"] == [alice_world["agent_id"]]
    props = [{"key": "plan", "value": "free", "type": "string"}]
    response = alice_api.put(
        "/v1/identities",
        {
            **ADA,
            "name": "Countess",
            "identity_type": "other",
            "properties": props,
            "block_ids": [alice_world["block_id"]],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["id"] == first["id"]
    assert second["name"] == "Countess" and second["identity_type"] == "other"
    assert second["properties"] == props
    assert second["agent_ids"] == [alice_world["agent_id"]]  # not given: unchanged
    assert second["block_ids"] == [alice_world["block_id"]]
    assert alice_api.get("/v1/identities/count").json() == 1 + 1  # the world's identity and this one


def test_modify_is_partial_and_replaces_sets(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    one = new_agent(alice_api, "one")
    two = new_agent(alice_api, "two")
    identity = create(alice_api, agent_ids=[one["id"], two["id"]])
    url = f"/v1/identities/{identity['id']}"
    response = alice_api.patch(url, {"name": "Ada King"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Ada King"
    assert response.json()["agent_ids"] == [one["id"], two["id"]]
    response = alice_api.patch(url, {"agent_ids": [two["id"]], "block_ids": [alice_world["block_id"]]}, format="json")
    assert response.json()["agent_ids"] == [two["id"]]
    assert response.json()["block_ids"] == [alice_world["block_id"]]
    assert response.json()["identity_type"] == "user"
    before = snapshot()
    for bad in ({"identity_type": "robot"}, {"agent_ids": [one["id"], "agent-x"]}, {"name": ""}):
        response = alice_api.patch(url, bad, format="json")
        assert response.status_code == 422, (bad, response.content)
    assert snapshot() == before


def test_properties_are_replaced_by_the_body(alice_api: APIClient) -> None:
    identity = create(alice_api, properties=[{"key": "old", "value": 1, "type": "number"}])
    url = f"/v1/identities/{identity['id']}/properties"
    props = [
        {"key": "plan", "value": "pro", "type": "string"},
        {"key": "tags", "value": ["a"], "type": "json"},
        {"key": "big", "value": 10**30, "type": "number"},
        {"key": "ratio", "value": 0.5, "type": "number"},
    ]
    response = alice_api.put(url, props, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["properties"] == props
    assert alice_api.get(f"/v1/identities/{identity['id']}").json()["properties"] == props
    before = snapshot()
    for bad in ({"key": "x", "value": 1, "type": "number"}, [{"key": "x", "value": "1", "type": "boolean"}], [1]):
        response = alice_api.put(url, bad, format="json")
        assert response.status_code == 422, (bad, response.content)
    assert snapshot() == before
    assert alice_api.put(url, [], format="json").json()["properties"] == []


def test_delete_keeps_the_agents(alice_api: APIClient) -> None:
    agent = new_agent(alice_api, "kept")
    identity = create(alice_api, agent_ids=[agent["id"]])
    response = alice_api.delete(f"/v1/identities/{identity['id']}")
    assert response.status_code == 200
    assert alice_api.get(f"/v1/identities/{identity['id']}").status_code == 404
    state = alice_api.get(f"/v1/agents/{agent['id']}").json()
    assert state["identities"] == [] and state["identity_ids"] == []


def test_attach_and_detach_on_agents_and_the_agent_filters(alice_api: APIClient) -> None:
    ada = create(alice_api)
    grace = create(alice_api, identifier_key="grace", name="Grace")
    one = new_agent(alice_api, "one")
    two = new_agent(alice_api, "two")
    response = alice_api.patch(f"/v1/agents/{one['id']}/identities/attach/{ada['id']}")
    assert response.status_code == 200
    state = response.json()
    assert state["identity_ids"] == [ada["id"]]
    assert state["identities"][0]["identifier_key"] == "ada@example.com"
    assert state["identities"][0]["agent_ids"] == [one["id"]]
    # Attaching twice is harmless.
    assert alice_api.patch(f"/v1/agents/{one['id']}/identities/attach/{ada['id']}").status_code == 200
    alice_api.patch(f"/v1/agents/{two['id']}/identities/attach/{grace['id']}")

    def names(**params: Any) -> list[str]:
        response = alice_api.get("/v1/agents/", {"order": "asc", **params})
        assert response.status_code == 200, response.content
        return [a["name"] for a in response.json()]

    assert names(identity_id=ada["id"]) == ["one"]
    assert names(identifier_keys=["grace"]) == ["two"]
    assert names(identifier_keys=["grace", "ada@example.com"]) == ["one", "two"]
    assert names(identifier_keys=["nobody"]) == []
    assert alice_api.get("/v1/agents/", {"identity_id": "identity-nope"}).status_code == 422
    listed = alice_api.get(f"/v1/identities/{ada['id']}/agents").json()
    assert [a["id"] for a in listed] == [one["id"]]
    assert alice_api.get(f"/v1/identities/{ada['id']}").json()["agent_ids"] == [one["id"]]

    response = alice_api.patch(f"/v1/agents/{one['id']}/identities/detach/{ada['id']}")
    assert response.status_code == 200
    assert response.json()["identity_ids"] == []
    assert names(identity_id=ada["id"]) == []
    # Detaching what is not attached is harmless too.
    assert alice_api.patch(f"/v1/agents/{one['id']}/identities/detach/{ada['id']}").status_code == 200


def test_attach_and_detach_on_blocks(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    ada = create(alice_api)
    block_id = alice_world["block_id"]
    response = alice_api.patch(f"/v1/blocks/{block_id}/identities/attach/{ada['id']}")
    assert response.status_code == 200
    assert response.json()["id"] == block_id
    assert alice_api.get(f"/v1/identities/{ada['id']}").json()["block_ids"] == [block_id]
    assert [b["id"] for b in alice_api.get(f"/v1/identities/{ada['id']}/blocks").json()] == [block_id]
    listed = alice_api.get("/v1/blocks/", {"identity_id": ada["id"]}).json()
    assert [b["id"] for b in listed] == [block_id]
    listed = alice_api.get("/v1/blocks/", {"identifier_keys": ["nobody", ADA["identifier_key"]]}).json()
    assert [b["id"] for b in listed] == [block_id]
    assert alice_api.get("/v1/blocks/", {"identity_id": "identity-nope"}).status_code == 422
    assert alice_api.patch(f"/v1/blocks/{block_id}/identities/detach/{ada['id']}").status_code == 200
    assert alice_api.get("/v1/blocks/", {"identity_id": ada["id"]}).json() == []
    assert alice_api.get(f"/v1/identities/{ada['id']}/blocks").json() == []


def test_agent_create_and_update_take_identity_ids(alice_api: APIClient) -> None:
    ada = create(alice_api)
    grace = create(alice_api, identifier_key="grace", name="Grace")
    agent = new_agent(alice_api, "with-identity", identity_ids=[ada["id"]])
    assert agent["identity_ids"] == [ada["id"]]
    url = f"/v1/agents/{agent['id']}"
    response = alice_api.patch(url, {"identity_ids": [grace["id"]]}, format="json")
    assert response.status_code == 200
    assert response.json()["identity_ids"] == [grace["id"]]
    assert alice_api.patch(url, {"name": "renamed"}, format="json").json()["identity_ids"] == [grace["id"]]
    assert alice_api.patch(url, {"identity_ids": []}, format="json").json()["identity_ids"] == []


def test_agent_writes_refuse_unknown_identities_and_write_nothing(
    alice_api: APIClient, charlie_world: dict[str, str]
) -> None:
    agent = new_agent(alice_api, "plain")
    before = snapshot()
    for ids in ([charlie_world["identity_id"]], ["identity-nope"], ["agent-00000000-0000-4000-8000-000000000000"]):
        response = alice_api.post("/v1/agents/", {"name": "x", "identity_ids": ids}, format="json")
        assert response.status_code == 422, response.content
        assert response.json()["detail"].startswith("identity_ids"), response.json()
        response = alice_api.patch(f"/v1/agents/{agent['id']}", {"identity_ids": ids, "name": "y"}, format="json")
        assert response.status_code == 422
    assert snapshot() == before
    assert alice_api.get(f"/v1/agents/{agent['id']}").json()["name"] == "plain"


def test_outsiders_filters_find_nothing(
    charlie_api: APIClient, alice_world: dict[str, str], charlie_world: dict[str, str]
) -> None:
    alice_key = Identity.objects.get(pk=parse_id("identity", alice_world["identity_id"])).identifier_key
    IdentityAgent.objects.create(
        identity_id=parse_id("identity", alice_world["identity_id"]),
        agent_id=parse_id("agent", alice_world["agent_id"]),
    )
    assert charlie_api.get("/v1/agents/", {"identity_id": alice_world["identity_id"]}).json() == []
    assert charlie_api.get("/v1/agents/", {"identifier_keys": [alice_key]}).json() == []
    assert charlie_api.get("/v1/identities/", {"identifier_key": alice_key}).json() == []
    IdentityBlock.objects.create(
        identity_id=parse_id("identity", alice_world["identity_id"]),
        block_id=parse_id("block", alice_world["block_id"]),
    )
    assert charlie_api.get("/v1/blocks/", {"identity_id": alice_world["identity_id"]}).json() == []
    assert charlie_api.get("/v1/blocks/", {"identifier_keys": [alice_key]}).json() == []


def test_listing_agents_with_identities_costs_the_same_for_one_or_many(alice_api: APIClient) -> None:
    ada = create(alice_api)
    grace = create(alice_api, identifier_key="grace", name="Grace")
    new_agent(alice_api, "a0", identity_ids=[ada["id"], grace["id"]])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = alice_api.get("/v1/agents/")
            assert response.status_code == 200
        return len(captured)

    few = queries()
    for i in range(1, 5):
        new_agent(alice_api, f"a{i}", identity_ids=[ada["id"], grace["id"]])
    assert queries() == few
    states = alice_api.get("/v1/agents/").json()
    assert all(s["identity_ids"] == [ada["id"], grace["id"]] for s in states)
    assert len(states[0]["identities"][0]["agent_ids"]) == 5
