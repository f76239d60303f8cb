"""The OpenAPI schema (api.schemas) and the wire dicts (api.wire) cannot drift: both are checked against the
TypedDicts in api.wire.types (mypy checks the builders; this checks the documented components and what is sent)."""

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from api.wire import types
from tests.api.conftest import TOOL_SOURCE

# OpenAPI component (an api.schemas serializer) → the TypedDict of the dict the views send
COMPONENTS = {
    "BlockOutput": types.BlockResponseWire,
    "PassageSchema": types.PassageWire,
    "ArchiveSchema": types.ArchiveWire,
    "AgentStateSchema": types.AgentStateWire,
    "RunSchema": types.RunWire,
    "StepSchema": types.StepWire,
    "ContextWindowSchema": types.ContextWindowOverviewWire,
    "LettaMessageSchema": types.LettaMessageWire,
}


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return dict(schema["components"]["schemas"])


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_every_documented_field_is_a_key_the_wire_sends(components: dict[str, Any], name: str) -> None:
    assert name in components, f"{name} is no longer an OpenAPI component: update COMPONENTS"
    documented = set(components[name]["properties"])
    sent = set(COMPONENTS[name].__annotations__)
    assert documented <= sent, f"{name} documents fields the wire never sends: {sorted(documented - sent)}"
    assert set(components[name].get("required", [])) <= sent


@pytest.mark.django_db
def test_what_the_views_send_has_exactly_the_typed_keys(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    agent, block, run, step = (alice_world[k] for k in ("agent_id", "block_id", "run_id", "step_id"))
    sent = {
        types.AgentStateWire: alice_api.get(f"/v1/agents/{agent}").json(),
        types.BlockResponseWire: alice_api.get(f"/v1/blocks/{block}").json(),
        types.RunWire: alice_api.get(f"/v1/runs/{run}").json(),
        types.StepWire: alice_api.get(f"/v1/steps/{step}").json(),
        types.ContextWindowOverviewWire: alice_api.get(f"/v1/agents/{agent}/context").json(),
        types.PassageWire: alice_api.get(f"/v1/agents/{agent}/archival-memory").json()[0],
    }
    for typed, body in sent.items():
        assert set(body) == set(typed.__annotations__), (typed.__name__, set(body) ^ set(typed.__annotations__))


@pytest.mark.django_db
def test_every_message_sent_is_a_typed_letta_message(alice_api: APIClient, alice_world: dict[str, str]) -> None:
    keys, required = set(types.LettaMessageWire.__annotations__), types.LettaMessageWire.__required_keys__
    one = alice_api.get(f"/v1/messages/{alice_world['message_id']}").json()
    messages = one if isinstance(one, list) else [one]
    ran = alice_api.post("/v1/tools/run", {"source_code": TOOL_SOURCE, "args": {"text": "hi"}}, format="json").json()
    assert messages and ran["message_type"] == "tool_return_message"
    for message in [*messages, ran]:
        assert required <= set(message) <= keys, (message["message_type"], set(message) - keys)
