"""Input that used to crash the server (a 500) or store rows that broke an agent later: each is a clear 4xx
naming the field, and nothing is written."""

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Agent, Message, Tool
from lib.ids import parse_id
from memory.models import Block

pytestmark = pytest.mark.django_db


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": [value]} if depth % 2 else {"a": value}
    return value


def _deep_body(depth: int) -> str:
    return '{"metadata": ' + "[" * depth + "]" * depth + "}"


def test_json_nested_a_thousand_levels_deep_is_a_4xx_on_every_json_route(
    alice_api: APIClient, alice_world: dict[str, str]
) -> None:
    agent_id, block_id, tool_id = alice_world["agent_id"], alice_world["block_id"], alice_world["tool_id"]
    messages_before = Message.objects.count()
    routes = [
        ("post", "/v1/agents/"),
        ("patch", f"/v1/agents/{agent_id}"),
        ("post", f"/v1/agents/{agent_id}/messages"),
        ("post", f"/v1/agents/{agent_id}/messages/async"),
        ("patch", f"/v1/blocks/{block_id}"),
        ("post", "/v1/blocks/"),
        ("patch", f"/v1/tools/{tool_id}"),
        ("post", "/v1/tools/run"),
        ("post", "/v1/identities/"),
    ]
    for depth in (1_000, 100_000):
        for method, url in routes:
            response = getattr(alice_api, method)(url, _deep_body(depth), content_type="application/json")
            assert response.status_code == 422, (method, url, depth, response.content[:200])
            assert response.json()["detail"] == "body: is nested deeper than 64 levels"
    assert Message.objects.count() == messages_before


def test_json_a_little_past_the_depth_limit_is_refused_and_within_it_accepted(alice_api: APIClient) -> None:
    block = alice_api.post("/v1/blocks/", {"label": "notes", "value": "ok"}, format="json").json()
    too_deep = json.dumps({"metadata": _nested(64)})
    response = alice_api.patch(f"/v1/blocks/{block['id']}", too_deep, content_type="application/json")
    assert response.status_code == 422 and "nested deeper than 64 levels" in response.json()["detail"]
    assert Block.objects.get().metadata == {}
    fine = json.dumps({"metadata": _nested(40)})
    response = alice_api.patch(f"/v1/blocks/{block['id']}", fine, content_type="application/json")
    assert response.status_code == 200, response.content
    assert Block.objects.get().metadata == _nested(40)


def test_a_deep_json_form_field_of_an_agent_file_import_is_a_4xx(alice_api: APIClient) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    document = json.dumps({"agents": [], "blocks": [], "tools": []}).encode()
    response = alice_api.post(
        "/v1/agents/import",
        {"file": SimpleUploadedFile("a.af", document), "secrets": "[" * 5000 + "]" * 5000},
        format="multipart",
    )
    assert response.status_code == 422, response.content
    assert response.json()["detail"] == "secrets: is nested deeper than 64 levels"
    assert not Agent.objects.exists() and not Tool.objects.filter(organization__isnull=False).exists()


SHOUT = '''
def shout(text: str) -> str:
    """Shout.

    Args:
        text: What to shout.
    """
    return text.upper()
'''


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        ("a string", "must be an object"),
        (["text"], "must be an object"),
        ({"type": "string"}, "must have type 'object'"),
        ({"type": "object", "properties": "text"}, "properties must be an object"),
        ({"type": "object", "properties": {"text": "string"}}, "properties.text must be an object"),
        ({"type": "object", "properties": {}, "required": "text"}, "required must be a list"),
    ],
)
def test_a_tool_schema_whose_parameters_are_not_an_object_schema_is_refused(
    alice_api: APIClient, parameters: Any, reason: str
) -> None:
    schema = {"name": "shout", "description": "Shout.", "parameters": parameters}
    for method, url in [("post", "/v1/tools/"), ("put", "/v1/tools/"), ("post", "/v1/tools/run")]:
        body = {"source_code": SHOUT, "json_schema": schema, "args": {"text": "hi"}}
        response = getattr(alice_api, method)(url, body, format="json")
        assert response.status_code == 422, (method, url, response.content)
        assert response.json()["detail"].startswith("json_schema.parameters: " + reason), response.json()
    assert not Tool.objects.filter(organization__isnull=False).exists()
    tool = alice_api.post("/v1/tools/", {"source_code": SHOUT}, format="json").json()
    response = alice_api.patch(f"/v1/tools/{tool['id']}", {"json_schema": schema}, format="json")
    assert response.status_code == 422 and reason in response.json()["detail"]
    assert Tool.objects.get(organization__isnull=False).json_schema["parameters"]["properties"] == {
        "text": {"type": "string", "description": "What to shout."}
    }


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

BAD_PARTS = [
    ({"type": "image", "source": 5}, "messages[0].content[0].source: must be an object"),
    ({"type": "image"}, "messages[0].content[0].source: must be an object"),
    ({"type": "image", "source": {"type": "url", "url": 5}}, "messages[0].content[0].source.url"),
    ({"type": "image", "source": {"type": "url", "url": "file:///etc/passwd"}}, "messages[0].content[0].source.url"),
    ({"type": "image", "source": {"type": "base64", "media_type": "image/png"}}, "messages[0].content[0].source.data"),
    (
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "not base64!"}},
        "messages[0].content[0].source.data",
    ),
    ({"type": "image", "source": {"type": "base64", "media_type": 7, "data": PNG}}, "source.media_type"),
    ({"type": "image", "source": {"type": "letta", "file_id": "file-1"}}, "messages[0].content[0].source.media_type"),
    ({"type": "image", "source": {"type": "ftp", "url": "x"}}, "messages[0].content[0].source.type"),
    (
        {"type": "image", "source": {"type": "url", "url": "https://x/y.png", "detail": "max"}},
        "messages[0].content[0].source.detail",
    ),
    ({"type": "text", "text": 5}, "messages[0].content[0].text"),
    ({"type": "video"}, "messages[0].content[0]: must be a {type: text, text} or {type: image, source} part"),
    ("just a string", "messages[0].content[0]: must be a"),
]


@pytest.mark.parametrize(("part", "reason"), BAD_PARTS)
def test_a_malformed_content_part_is_a_422_naming_it_on_every_send_route(
    alice_api: APIClient, alice_world: dict[str, str], part: Any, reason: str
) -> None:
    agent_id = alice_world["agent_id"]
    before = Message.objects.count()
    for suffix in ("messages", "messages/async", "messages/stream"):
        body = {"messages": [{"role": "user", "content": [part]}]}
        response = alice_api.post(f"/v1/agents/{agent_id}/{suffix}", body, format="json")
        assert response.status_code == 422, (suffix, response.content)
        assert reason in response.json()["detail"], response.json()
    assert Message.objects.count() == before


def test_image_parts_of_the_shapes_the_sdks_send_are_stored_normalised(
    alice_api: APIClient, alice_world: dict[str, str]
) -> None:
    parts = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "image", "source": {"url": "https://example.com/b.png", "detail": "low"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG, "extra": 1}},
        {"type": "image", "source": {"type": "letta", "file_id": "file-1", "media_type": "image/png", "data": PNG}},
    ]
    url = f"/v1/agents/{alice_world['agent_id']}/messages/async"
    response = alice_api.post(url, {"messages": [{"role": "user", "content": parts}]}, format="json")
    assert response.status_code == 200, response.content
    stored = Message.objects.get(run_id=parse_id("run", response.json()["id"])).content
    assert [p["type"] for p in stored] == ["text", "image", "image", "image", "image"]
    assert stored[2]["source"] == {"type": "url", "url": "https://example.com/b.png", "detail": "low"}
    assert stored[3]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}
    assert stored[4]["source"]["file_id"] == "file-1"
